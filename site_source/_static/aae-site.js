// AAE Wizard site: a display formula wider than the text column is set smaller to fit, down to
// three quarters of its size; what still does not fit (on a phone) scrolls in its own box, with a
// shadow on the side that has more.
(function () {
  "use strict";
  var SMALLEST = 0.75;

  function fit() {
    document.querySelectorAll('mjx-container[display="true"]').forEach(function (box) {
      if (!box.dataset.aaeFontSize) box.dataset.aaeFontSize = getComputedStyle(box).fontSize;
      var size = parseFloat(box.dataset.aaeFontSize);
      box.style.fontSize = size + "px";
      var ratio = box.clientWidth / box.scrollWidth;
      if (ratio < 1) box.style.fontSize = size * Math.max(SMALLEST, ratio * 0.99) + "px";
    });
  }

  function start() {
    if (!(window.MathJax && MathJax.startup && MathJax.startup.promise)) return;
    MathJax.startup.promise.then(function () {
      fit();
      var waiting = null;
      window.addEventListener("resize", function () {
        clearTimeout(waiting);
        waiting = setTimeout(fit, 200);
      });
    });
  }

  if (document.readyState === "complete") start();
  else window.addEventListener("load", start);
})();
