/* The analytics page's day-by-day charts, drawn by uPlot (vendored from npm,
 * ivr/static/vendor/uplot). Each .series-chart names the JSON block with its
 * numbers (data-series); the same numbers are in the table under the chart.
 * Solid lines are this period, dashed lines the period before, day for day.
 * Pointing at a day shows every line's value in the legend, with the date
 * the "before" value is from. */
(function () {
  "use strict";
  // Okabe-Ito colours: told apart with the common colour blindnesses.
  var COLOURS = ["#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9", "#1d2430", "#8a6d00"];
  var MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

  function noonUtc(day) { return Date.parse(day + "T12:00:00Z") / 1000; }

  function dayText(day) {
    var parts = day.split("-");
    return MONTHS[Number(parts[1]) - 1] + " " + Number(parts[2]);
  }

  function formatter(unit) {
    if (unit === "percent") return function (v) { return v.toFixed(v % 1 ? 1 : 0) + " %"; };
    if (unit === "seconds") {
      return function (v) {
        v = Math.round(v);
        return v < 60 ? v + " s" : Math.floor(v / 60) + " min " + String(v % 60).padStart(2, "0") + " s";
      };
    }
    return function (v) { return Math.round(v).toLocaleString("en-US"); };
  }

  function draw(box) {
    var source = document.getElementById(box.dataset.series);
    if (!source || !window.uPlot) return;
    var data = JSON.parse(source.textContent);
    var fmt = formatter(data.unit);
    var x = data.days.map(noonUtc);
    var series = [{
      label: "Day",
      value: function (u, ts, si, i) { return i == null ? "—" : dayText(data.days[i]); }
    }];
    var columns = [x];
    data.lines.forEach(function (line, n) {
      var colour = COLOURS[n % COLOURS.length];
      series.push({
        label: line.label,
        stroke: colour,
        width: 2,
        value: function (u, v) { return v == null ? "—" : fmt(v); }
      });
      series.push({
        label: line.label + ", before",
        stroke: colour,
        width: 1.5,
        dash: [6, 4],
        value: function (u, v, si, i) {
          return v == null ? "—" : fmt(v) + " (" + dayText(data.previous_days[i]) + ")";
        }
      });
      columns.push(line.now, line.before);
    });
    var width = Math.max(280, Math.min(box.parentElement.clientWidth - 24, 960));
    new window.uPlot({
      width: width,
      height: 260,
      tzDate: function (ts) { return window.uPlot.tzDate(new Date(ts * 1000), "Etc/UTC"); },
      scales: { y: { range: function (u, min, max) { return [0, Math.max(max, data.unit === "percent" ? 100 : 1)]; } } },
      series: series,
      axes: [
        { values: function (u, ticks) { return ticks.map(function (t) { return dayText(new Date(t * 1000).toISOString().slice(0, 10)); }); } },
        { size: 80, values: function (u, ticks) { return ticks.map(fmt); } }
      ]
    }, columns, box);
  }

  function drawAll() {
    Array.prototype.forEach.call(document.querySelectorAll(".series-chart[data-series]"), draw);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", drawAll);
  else drawAll();
})();
