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
})();
