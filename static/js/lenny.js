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
})();
