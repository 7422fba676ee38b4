// The pilot's ledger charts: realized profit per day (bars) and wallet balance over time (steps),
// drawn with the vendored uPlot from the JSON the page embeds as #ledger-chart-data; and the
// pages' ages ("12 s ago") kept counting between server renders and htmx swaps.
(function () {
  "use strict";

  const AGE_TICK_MS = 5000;

  // Mirrors market/ledger/templatetags/ledger_ages.py age_text (and market.queries.duration_text).
  function ageText(seconds) {
    seconds = Math.floor(Math.max(seconds, 0));
    if (seconds < 10) return "just now";
    if (seconds < 60) return `${seconds} s ago`;
    let minutes = Math.floor(seconds / 60);
    if (minutes < 60) return `${minutes} min ago`;
    const hours = Math.floor(minutes / 60);
    minutes %= 60;
    if (hours < 48) return (minutes ? `${hours} h ${minutes} min` : `${hours} h`) + " ago";
    return `${Math.floor(hours / 24)} days ago`;
  }

  function ages() {
    const now = Date.now();
    document.querySelectorAll("time[data-ago]").forEach((element) => {
      const at = Date.parse(element.getAttribute("datetime"));
      if (!Number.isNaN(at)) element.textContent = ageText((now - at) / 1000);
    });
  }

  const GOOD = "#1a7f37";
  const BAD = "#c62828";
  const LINES = ["#1565c0", "#6a1b9a", "#ef6c00", "#00838f", "#5d4037", "#455a64"];

  function isk(value) {
    if (value == null) return "—";
    const abs = Math.abs(value);
    const units = [[1e12, "T"], [1e9, "B"], [1e6, "M"], [1e3, "k"]];
    for (const [size, suffix] of units) {
      if (abs >= size) return (value / size).toFixed(abs >= size * 100 ? 0 : 2) + suffix;
    }
    return value.toFixed(2);
  }

  function empty(element, text) {
    element.textContent = text;
    element.classList.add("muted");
    element.style.minHeight = "0";
  }

  function size(element) {
    return { width: Math.max(280, element.clientWidth), height: 260 };
  }

  function timeScale(range) {
    // The whole window, however few points it has: a lone point must not set the axis.
    return { x: { time: true, range: () => [range[0] - 43200, range[1] + 43200] } };
  }

  function profitChart(element, data, range) {
    if (!data.values.some((v) => v !== 0)) return empty(element, "No sales in the last 90 days.");
    const gains = data.values.map((v) => (v > 0 ? v : null));
    const losses = data.values.map((v) => (v < 0 ? v : null));
    const bars = uPlot.paths.bars({ size: [0.8, 40] });
    return new uPlot(
      {
        ...size(element),
        scales: timeScale(range),
        axes: [{}, { values: (u, ticks) => ticks.map(isk), size: 72 }],
        series: [
          {},
          { label: "Profit", fill: GOOD, stroke: GOOD, paths: bars, points: { show: false }, value: (u, v) => isk(v) },
          { label: "Loss", fill: BAD, stroke: BAD, paths: bars, points: { show: false }, value: (u, v) => isk(v) },
        ],
      },
      [data.days, gains, losses],
      element,
    );
  }

  function balanceChart(element, data, range) {
    if (!data.times.length) return empty(element, "No wallet balance synced yet.");
    const stepped = uPlot.paths.stepped({ align: 1 });
    return new uPlot(
      {
        ...size(element),
        scales: timeScale(range),
        axes: [{}, { values: (u, ticks) => ticks.map(isk), size: 72 }],
        series: [
          {},
          ...data.series.map((s, i) => ({
            label: s.label,
            stroke: LINES[i % LINES.length],
            width: s.label === "All characters" ? 2.5 : 1.5,
            paths: stepped,
            spanGaps: true,
            points: { show: false },
            value: (u, v) => isk(v),
          })),
        ],
      },
      [data.times, ...data.series.map((s) => s.values)],
      element,
    );
  }

  function draw() {
    const source = document.getElementById("ledger-chart-data");
    if (!source || typeof uPlot === "undefined") return;
    const data = JSON.parse(source.textContent);
    const charts = [];
    const profit = document.querySelector("[data-chart=profit]");
    const balance = document.querySelector("[data-chart=balance]");
    if (profit) charts.push([profit, profitChart(profit, data.profit, data.range)]);
    if (balance) charts.push([balance, balanceChart(balance, data.balance, data.range)]);
    window.addEventListener("resize", () => {
      for (const [element, chart] of charts) if (chart) chart.setSize(size(element));
    });
  }

  function start() {
    draw();
    ages();
    setInterval(ages, AGE_TICK_MS);
    document.addEventListener("htmx:afterSettle", ages);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
