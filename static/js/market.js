// The market desk's small client side: data ages that keep counting, the history chart (uPlot),
// and keyboard handling for the item search's suggestions. Everything else is server-rendered.
(() => {
  "use strict";

  // Mirrors market.queries.duration_text, so a ticking age reads like the server's.
  const duration = (seconds) => {
    let minutes = Math.floor(Math.max(seconds, 0) / 60);
    if (minutes < 1) return "under a minute";
    if (minutes < 60) return `${minutes} min`;
    const hours = Math.floor(minutes / 60);
    minutes %= 60;
    if (hours < 48) return minutes ? `${hours} h ${minutes} min` : `${hours} h`;
    return `${Math.floor(hours / 24)} days`;
  };

  const ages = () => {
    const now = Date.now();
    document.querySelectorAll("time[data-since]").forEach((el) => {
      el.textContent = duration((now - Date.parse(el.getAttribute("datetime"))) / 1000);
    });
    document.querySelectorAll("[data-until]").forEach((el) => {
      const left = (Date.parse(el.dataset.until) - now) / 1000;
      el.textContent = left > 0 ? `next refresh in ${duration(left)}` : "refresh due";
    });
  };

  const isk = (value) =>
    value == null ? "–" : value.toLocaleString("en-US", { maximumFractionDigits: 2 });
  const compact = new Intl.NumberFormat("en-US", { notation: "compact", maximumFractionDigits: 2 });
  const CHART_HEIGHT = 320;

  // Daily average as a line inside its low–high band; volume as bars in the lower third.
  const drawChart = (box) => {
    if (box.dataset.drawn || typeof uPlot === "undefined") return;
    const source = box.querySelector("script[type='application/json']");
    if (!source) return;
    const data = JSON.parse(source.textContent);
    box.dataset.drawn = "1";
    const options = {
      width: box.clientWidth || 640,
      height: CHART_HEIGHT,
      cursor: { drag: { x: false, y: false } },
      scales: { x: { time: true }, volume: { range: (u, min, max) => [0, (max || 1) * 3] } },
      series: [
        {},
        { label: "Average", stroke: "#1e66f5", width: 2, value: (u, v) => isk(v) },
        {
          label: "High",
          stroke: "rgba(30, 102, 245, 0.35)",
          width: 1,
          points: { show: false },
          value: (u, v) => isk(v),
        },
        {
          label: "Low",
          stroke: "rgba(30, 102, 245, 0.35)",
          width: 1,
          points: { show: false },
          value: (u, v) => isk(v),
        },
        {
          label: "Volume",
          scale: "volume",
          stroke: "rgba(100, 100, 100, 0.8)",
          fill: "rgba(100, 100, 100, 0.3)",
          paths: uPlot.paths.bars({ size: [0.7, 40] }),
          points: { show: false },
          value: (u, v) => (v == null ? "–" : v.toLocaleString("en-US")),
        },
      ],
      bands: [{ series: [2, 3], fill: "rgba(30, 102, 245, 0.12)" }],
      axes: [
        {},
        { size: 64, values: (u, ticks) => ticks.map((t) => compact.format(t)) },
        {
          scale: "volume",
          side: 1,
          size: 56,
          grid: { show: false },
          values: (u, ticks) => ticks.map((t) => compact.format(t)),
        },
      ],
    };
    const plot = new uPlot(
      options,
      [data.t, data.average, data.highest, data.lowest, data.volume],
      box,
    );
    new ResizeObserver(() => {
      if (box.clientWidth) plot.setSize({ width: box.clientWidth, height: CHART_HEIGHT });
    }).observe(box);
  };

  // A filter form swaps only its table: after each swap its fields are marked as the answer
  // says (the error names its fields in data-fields), as a whole page load renders them.
  const markInvalid = () => {
    document.querySelectorAll("form[hx-target]").forEach((form) => {
      const table = document.querySelector(form.getAttribute("hx-target"));
      if (!table) return;
      const alert = table.querySelector("[role=alert][data-fields]");
      const wrong = new Set(alert ? alert.dataset.fields.split(" ") : []);
      form.querySelectorAll("input[name], select[name]").forEach((field) => {
        if (field.type === "hidden") return;
        if (wrong.has(field.name)) field.setAttribute("aria-invalid", "true");
        else field.removeAttribute("aria-invalid");
      });
    });
  };

  const refresh = () => {
    ages();
    document.querySelectorAll("[data-history-chart]").forEach(drawChart);
  };

  // Item search: arrows move through the suggestions, Escape or a click elsewhere closes them.
  document.addEventListener("keydown", (event) => {
    const box = event.target.closest && event.target.closest(".autocomplete");
    const list = box && box.querySelector("ul.suggestions");
    if (!list) return;
    const links = [...list.querySelectorAll("a")];
    const at = links.indexOf(document.activeElement);
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      const next = event.key === "ArrowDown" ? Math.min(at + 1, links.length - 1) : at - 1;
      if (next < 0) box.querySelector("input[type=search]").focus();
      else links[next].focus();
    } else if (event.key === "Escape") {
      list.remove();
    }
  });
  document.addEventListener("click", (event) => {
    document.querySelectorAll(".autocomplete ul.suggestions").forEach((list) => {
      if (!list.closest(".autocomplete").contains(event.target)) list.remove();
    });
  });

  // Hidden tabs do not poll (see the pollers' hx-trigger); one coming back asks at once rather
  // than showing data up to 30 s older than it need be.
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") {
      ages();
      document.dispatchEvent(new Event("desk-visible"));
    }
  });

  document.addEventListener("DOMContentLoaded", refresh);
  document.addEventListener("htmx:afterSettle", refresh);
  document.addEventListener("htmx:afterSettle", markInvalid);
  setInterval(ages, 30_000);
  if (document.readyState !== "loading") refresh();
})();
