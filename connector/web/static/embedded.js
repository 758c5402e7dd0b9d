// Inside the Shopify admin (loaded only on embedded pages, after App Bridge): the iframe's
// cookies are third-party and usually blocked, so the session and its CSRF token are lost on
// every click. Each same-origin form, link and fetch carries a fresh session token instead
// (`shopify.idToken()`), with the shop and host, and the server signs the shop in from it.
(function () {
  "use strict";
  var bridge = window.shopify;
  if (!bridge || typeof bridge.idToken !== "function") {
    return; // not inside the admin after all: the cookie session works as usual
  }
  function meta(name) {
    var found = document.querySelector('meta[name="' + name + '"]');
    return found ? found.getAttribute("content") : "";
  }
  var here = new URLSearchParams(window.location.search);
  var shop = here.get("shop") || meta("relance-shop");
  var host = here.get("host") || meta("relance-host");

  // A page loaded without a token (see shopify_app._bounce): the same URL again, with one.
  if (meta("relance-bounce") === "reload") {
    bridge.idToken().then(function (token) {
      var again = new URL(window.location.href);
      again.searchParams.set("id_token", token);
      if (shop) { again.searchParams.set("shop", shop); }
      window.location.replace(again.toString());
    });
    return;
  }

  function sameOrigin(url) {
    try {
      return new URL(url, window.location.href).origin === window.location.origin;
    } catch (e) {
      return false;
    }
  }

  function setField(form, name, value) {
    if (!value) { return; }
    var field = form.querySelector('input[type="hidden"][name="' + name + '"][data-embedded]');
    if (field === null) {
      field = document.createElement("input");
      field.type = "hidden";
      field.name = name;
      field.setAttribute("data-embedded", "");
      form.appendChild(field);
    }
    field.value = value;
  }

  function stamp(form, token) {
    setField(form, "id_token", token);
    setField(form, "shop", shop);
    setField(form, "host", host);
  }

  function postForm(form) {
    return (form.getAttribute("method") || "get").toLowerCase() === "post";
  }

  function stampAll(token) {
    Array.prototype.forEach.call(document.forms, function (form) {
      if (postForm(form) && sameOrigin(form.action)) { stamp(form, token); }
    });
  }

  // Forms sent by script (form.submit() fires no submit event) still carry a token: every
  // form holds a recent one, renewed well inside its one-minute life.
  function refresh() {
    return bridge.idToken().then(function (token) { stampAll(token); return token; });
  }
  refresh();
  window.setInterval(refresh, 20000);

  // A form sent by a person: hold it, get a fresh token, then send it again with the same
  // button (its name/value kept), this time let through to the page's other handlers.
  var passing = null;
  window.addEventListener("submit", function (event) {
    var form = event.target;
    if (!(form instanceof HTMLFormElement) || !sameOrigin(form.action)) { return; }
    if (passing === form) { passing = null; return; }
    event.preventDefault();
    event.stopImmediatePropagation();
    var submitter = event.submitter || null;
    bridge.idToken().then(function (token) {
      stamp(form, token);
      passing = form;
      if (submitter && submitter.form === form) {
        form.requestSubmit(submitter);
      } else {
        form.requestSubmit();
      }
    });
  }, true);

  // A link to one of our pages: go there with a fresh token in its query.
  document.addEventListener("click", function (event) {
    if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey ||
        event.shiftKey || event.altKey) { return; }
    var link = event.target instanceof Element ? event.target.closest("a[href]") : null;
    if (link === null || link.hasAttribute("download") ||
        (link.target && link.target !== "_self") || !sameOrigin(link.href)) { return; }
    var url = new URL(link.href, window.location.href);
    if (url.pathname === window.location.pathname && url.hash &&
        url.search === window.location.search) { return; } // an anchor on this page
    event.preventDefault();
    bridge.idToken().then(function (token) {
      url.searchParams.set("id_token", token);
      if (shop) { url.searchParams.set("shop", shop); }
      if (host) { url.searchParams.set("host", host); }
      window.location.assign(url.toString());
    });
  });

  // Our own fetches (sequence preview, sync progress): a Bearer session token. App Bridge v4
  // already adds one to same-origin fetches; a request that has one is left as it is.
  var plainFetch = window.fetch.bind(window);
  window.fetch = function (input, init) {
    var url = typeof input === "string" ? input : (input && input.url) || String(input);
    if (!sameOrigin(url)) { return plainFetch(input, init); }
    var headers = new Headers((init && init.headers) || (input instanceof Request ? input.headers : undefined));
    if (headers.has("Authorization")) { return plainFetch(input, init); }
    return bridge.idToken().then(function (token) {
      headers.set("Authorization", "Bearer " + token);
      return plainFetch(input, Object.assign({}, init || {}, { headers: headers }));
    });
  };
}());
