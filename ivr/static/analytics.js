/* The analytics page's day-by-day chart, drawn by uPlot (vendored from npm,
 * ivr/static/vendor/uplot) from the numbers in #daily-data; the same numbers
 * are in the table under it. Hovering shows each day's figures. */
(function () {
  "use strict";
  function draw() {
    var box = document.getElementById("daily-chart");
    var source = document.getElementById("daily-data");
    if (!box || !source || !window.uPlot) return;
    var data = JSON.parse(source.textContent);
    var x = data.days.map(function (d) { return Date.parse(d + "T12:00:00Z") / 1000; });
    var width = Math.max(280, Math.min(box.parentElement.clientWidth - 24, 900));
    new window.uPlot({
      width: width,
      height: 260,
      tzDate: function (ts) { return window.uPlot.tzDate(new Date(ts * 1000), "Etc/UTC"); },
      series: [
        {},
        { label: "Calls", stroke: "#2457a6", width: 2 },
        { label: "Cancelled", stroke: "#1d2430", width: 2 },
        { label: "Saved", stroke: "#1f6b3a", width: 2 }
      ],
      axes: [{}, { size: 56 }]
    }, [x, data.calls, data.cancelled, data.saved], box);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", draw);
  else draw();
})();
