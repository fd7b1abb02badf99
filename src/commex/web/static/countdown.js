// Live countdowns: every element with data-seconds-left counts down from the server's figure,
// measured from when it appeared (so a page's clock never disagrees with the exchange's).
(function () {
  "use strict";
  var started = new WeakMap();

  function format(seconds) {
    if (seconds <= 0) return "closing";
    var d = Math.floor(seconds / 86400), h = Math.floor(seconds % 86400 / 3600);
    var m = Math.floor(seconds % 3600 / 60), s = seconds % 60;
    if (d) return d + " d " + h + " h";
    if (h) return h + " h " + m + " min";
    if (m) return m + " min " + s + " s";
    return s + " s";
  }

  function tick() {
    var now = Date.now();
    document.querySelectorAll("[data-seconds-left]").forEach(function (el) {
      if (!started.has(el)) started.set(el, now);
      var left = Number(el.getAttribute("data-seconds-left"));
      var remaining = Math.max(0, Math.round(left - (now - started.get(el)) / 1000));
      var text = format(remaining);
      if (el.textContent !== text) el.textContent = text;
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    tick();
    window.setInterval(tick, 1000);
  });
})();
