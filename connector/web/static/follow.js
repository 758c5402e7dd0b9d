// "Continue on the platform" pages: follow the link at once (it stays there to click if
// scripts are off). A link, because the CSP lets forms post only to Relance itself.
"use strict";
(function () {
  var link = document.querySelector("a[data-follow]");
  if (link) { window.location.assign(link.href); }
})();
