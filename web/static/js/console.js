// Herald console: live countdowns on the cadence board. Each element with
// data-due (an RFC 3339 time) shows "due in m:ss" or "overdue by …" and
// turns its row red when due passes. It also tells the composer when the
// incident moved on (the live part refreshed to a newer version than the
// one the composer was opened at). Everything else is htmx.
(function () {
  "use strict";
  function fmt(ms) {
    var s = Math.floor(Math.abs(ms) / 1000), m = Math.floor(s / 60), h = Math.floor(m / 60);
    if (h > 0) return h + "h " + String(m % 60).padStart(2, "0") + "m";
    return m + ":" + String(s % 60).padStart(2, "0");
  }
  function tick() {
    var now = Date.now();
    // The obligations strip shows an item from its first reminder on.
    document.querySelectorAll("[data-show-from]").forEach(function (el) {
      var from = Date.parse(el.getAttribute("data-show-from"));
      var show = !(from > now);
      if (el.hidden === show) el.hidden = !show;
    });
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
  function outdated() {
    var live = document.getElementById("live"), note = document.getElementById("composer-outdated");
    var version = document.querySelector("#composer input[name=version]");
    if (!live || !note || !version) return;
    var moved = live.getAttribute("data-version") !== version.value;
    if (note.hidden === moved) note.hidden = !moved;
  }
  function update() { tick(); outdated(); }
  // A page submitting a form is on its way out: a live refresh now only
  // races the next page (and could take its one-off message with it).
  var leaving = false;
  document.addEventListener("submit", function (e) { if (!e.defaultPrevented) leaving = true; });
  document.addEventListener("htmx:beforeRequest", function (e) { if (leaving) e.preventDefault(); });
  window.addEventListener("pageshow", function () { leaving = false; });
  document.addEventListener("DOMContentLoaded", function () { update(); setInterval(tick, 1000); });
  // htmx:load fires on content swapped in (the new #live included), where
  // htmx:afterSwap may fire on the element it replaced.
  document.addEventListener("htmx:load", update);
  document.addEventListener("htmx:afterSwap", update);
})();
