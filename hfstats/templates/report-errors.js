// Runs first, in <head>: collects every error the page meets so that report.js can publish
// them in #render-status (read by the browser test) and a reader sees what went wrong.
(function () {
  "use strict";
  var status = { charts: {}, errors: [], done: false };
  window.hfstatsReportStatus = status;
  function record(message) {
    status.errors.push(String(message));
  }
  window.addEventListener("error", function (event) {
    record("error: " + event.message);
  });
  window.addEventListener("unhandledrejection", function (event) {
    record("unhandled rejection: " + event.reason);
  });
  document.addEventListener("securitypolicyviolation", function (event) {
    record("blocked by the content security policy: " + event.violatedDirective);
  });
  var consoleError = console.error;
  console.error = function () {
    record("console.error: " + Array.prototype.join.call(arguments, " "));
    consoleError.apply(console, arguments);
  };
})();
