// Draws every chart from the JSON specs in #report-specs with vega-embed (inlined above), then
// writes what it drew into #render-status: chart name -> SVG elements drawn, plus any errors.
(function () {
  "use strict";
  var status = window.hfstatsReportStatus;
  var specs = JSON.parse(document.getElementById("report-specs").textContent);
  var names = Object.keys(specs);
  // ast: true makes Vega interpret expressions instead of compiling them with Function(),
  // so the page works under a policy that forbids eval.
  var options = { actions: false, renderer: "svg", ast: true };
  Promise.all(
    names.map(function (name) {
      var target = document.getElementById("chart-" + name);
      return vegaEmbed(target, specs[name], options).then(
        function () {
          status.charts[name] = target.querySelectorAll("svg path, svg rect, svg text").length;
        },
        function (error) {
          status.charts[name] = 0;
          status.errors.push(name + ": " + error);
          target.textContent = "This chart could not be drawn: " + error;
        }
      );
    })
  ).then(function () {
    status.done = true;
    document.getElementById("render-status").textContent = JSON.stringify(status);
    document.documentElement.setAttribute("data-render", status.errors.length ? "errors" : "ok");
  });
})();
