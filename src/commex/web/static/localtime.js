// Times in the viewer's own time zone: every <time datetime data-local> the server wrote in
// UTC is shown again in the browser's zone (the UTC text stays for readers without scripts).
(function () {
  "use strict";
  function pad(n) { return String(n).padStart(2, "0"); }

  function zoneName(date) {
    try {
      var parts = new Intl.DateTimeFormat(undefined, { timeZoneName: "short" }).formatToParts(date);
      var zone = parts.find(function (p) { return p.type === "timeZoneName"; });
      return zone ? zone.value : "";
    } catch (e) {
      return "";
    }
  }

  function localise(root) {
    root.querySelectorAll("time[data-local]").forEach(function (el) {
      var date = new Date(el.getAttribute("datetime"));
      if (isNaN(date.getTime())) return;
      var text = date.getFullYear() + "-" + pad(date.getMonth() + 1) + "-" + pad(date.getDate()) +
        " " + pad(date.getHours()) + ":" + pad(date.getMinutes());
      if (el.getAttribute("data-local") === "seconds") text += ":" + pad(date.getSeconds());
      text += " " + zoneName(date);
      if (!el.title) el.title = el.textContent;  // the UTC time, on hover
      el.textContent = text.trim();
      el.removeAttribute("data-local");
    });
  }

  document.addEventListener("DOMContentLoaded", function () { localise(document); });
  document.addEventListener("htmx:afterSwap", function (e) { localise(e.target); });
})();
