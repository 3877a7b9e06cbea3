// Herald console: live countdowns on the cadence board. Each element with
// data-due (an RFC 3339 time) shows "due in m:ss" or "overdue by …" and
// turns its row red when due passes. Everything else is htmx.
(function () {
  "use strict";
  function fmt(ms) {
    var s = Math.floor(Math.abs(ms) / 1000), m = Math.floor(s / 60), h = Math.floor(m / 60);
    if (h > 0) return h + "h " + String(m % 60).padStart(2, "0") + "m";
    return m + ":" + String(s % 60).padStart(2, "0");
  }
  function tick() {
    var now = Date.now();
    document.querySelectorAll("[data-due]").forEach(function (el) {
      var due = el.getAttribute("data-due");
      if (!due) return;
      var left = Date.parse(due) - now;
      var row = el.closest(".clock");
      if (left >= 0) {
        el.textContent = "due in " + fmt(left);
        if (row) { row.classList.remove("clock-overdue"); row.classList.add("clock-due"); }
      } else {
        el.textContent = "overdue by " + fmt(left);
        if (row) { row.classList.add("clock-overdue"); row.classList.remove("clock-due"); }
      }
    });
  }
  document.addEventListener("DOMContentLoaded", function () { tick(); setInterval(tick, 1000); });
  document.addEventListener("htmx:afterSwap", tick);
})();
