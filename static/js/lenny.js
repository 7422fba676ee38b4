// Behaviour every page shares, kept out of the HTML so the Content-Security-Policy can forbid
// inline handlers and eval: confirmations before destructive forms, and pollers that rest while
// the tab is hidden.
(() => {
  "use strict";

  // <form data-confirm="Really?">: ask before submitting.
  document.addEventListener("submit", (event) => {
    const form = event.target.closest && event.target.closest("form[data-confirm]");
    if (form && !window.confirm(form.dataset.confirm)) event.preventDefault();
  });

  // <div hx-trigger="every 30s" data-poll>: no request while nobody can see the page. (An htmx
  // trigger filter would need eval, which the policy forbids.)
  document.addEventListener("htmx:beforeRequest", (event) => {
    const source = event.detail && event.detail.elt;
    if (source && source.closest("[data-poll]") && document.visibilityState !== "visible") {
      event.preventDefault();
    }
  });

  // Enter in an edited filter fires "change" and then "submit" on the same form, and a form with
  // hx-trigger="submit, change" asks for the page on both: the second request would abort the
  // first (hx-sync replace) only to ask for the same page again. A form's request identical to
  // the one it has in flight is not sent; a different one still replaces it.
  const inFlight = new WeakMap(); // form -> {query, xhr}
  const formQuery = (form) => new URLSearchParams(new FormData(form)).toString();
  document.addEventListener("htmx:confirm", (event) => {
    const form = event.detail && event.detail.elt;
    if (!(form instanceof HTMLFormElement)) return;
    const sent = inFlight.get(form);
    if (sent && sent.query === formQuery(form)) event.preventDefault();
  });
  document.addEventListener("htmx:beforeSend", (event) => {
    const form = event.detail && event.detail.elt;
    if (form instanceof HTMLFormElement) {
      inFlight.set(form, { query: formQuery(form), xhr: event.detail.xhr });
    }
  });
  document.addEventListener("htmx:afterRequest", (event) => {
    const form = event.detail && event.detail.elt;
    if (!(form instanceof HTMLFormElement)) return;
    const sent = inFlight.get(form);
    if (sent && sent.xhr === event.detail.xhr) inFlight.delete(form);
  });

  // An htmx request that failed swaps nothing, so without a word the page would look as if the
  // edit had been saved. Say so at the top of the page, until the next request succeeds.
  const failure = (status, verb) => {
    if (verb === "get") {
      // A table, a row or suggestions that did not load: nothing was at stake but the view.
      if (status === 0) return "Lenny could not be reached, so this part of the page was not updated. Check the connection.";
      return `Lenny could not update this part of the page (error ${status}). Reload the page to try again.`;
    }
    if (status === 0) return "Lenny could not be reached, so nothing was saved. Check the connection and try again.";
    if (status === 403) return "This page's session has changed (a log in or out in another tab?), so nothing was saved. Reload the page to go on.";
    if (status >= 500) return `Lenny failed to answer (error ${status}), so nothing was saved. Try again in a moment.`;
    return `That request was refused (error ${status}), so nothing was changed. Reload the page to see what is saved.`;
  };
  const verbOf = (event) => ((event.detail.requestConfig && event.detail.requestConfig.verb) || "").toLowerCase();
  const notice = (text) => {
    let box = document.getElementById("request-failed");
    if (!text) {
      if (box) box.remove();
      return;
    }
    if (!box) {
      box = document.createElement("p");
      box.id = "request-failed";
      box.className = "message error";
      box.setAttribute("role", "alert");
      (document.querySelector("main") || document.body).prepend(box);
    }
    box.textContent = text;
  };
  document.addEventListener("htmx:responseError", (event) =>
    notice(failure(event.detail.xhr.status, verbOf(event))),
  );
  document.addEventListener("htmx:sendError", (event) => notice(failure(0, verbOf(event))));
  document.addEventListener("htmx:afterRequest", (event) => {
    if (event.detail.successful) notice("");
  });
})();
