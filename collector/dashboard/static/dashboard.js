// Draws every chart of the page from its Vega-Lite spec (a JSON script element).
// Vega is served by the dashboard itself (/vega.js): nothing is loaded from elsewhere.
(function () {
  "use strict";
  var charts = document.querySelectorAll("div.vega[data-spec]");
  var pending = charts.length;
  charts.forEach(function (el) {
    var spec = JSON.parse(document.getElementById(el.dataset.spec).textContent);
    window.vegaEmbed(el, spec, { actions: false, renderer: "svg" }).then(function () {
      el.dataset.rendered = "true";
    }).catch(function (err) {
      el.dataset.rendered = "error";
      el.textContent = String(err);
    }).finally(function () {
      pending -= 1;
      if (pending === 0) { document.body.dataset.chartsReady = "true"; }
    });
  });
  if (pending === 0) { document.body.dataset.chartsReady = "true"; }
})();
