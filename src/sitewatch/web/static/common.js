/* What both pages of the web app use: building elements from text (never from HTML strings:
   names, titles and errors come from the catalog), the status line, and the JSON API whose
   errors are problem documents. Loaded before app.js and alerts.js. */
(function () {
  'use strict';

  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }

  function say(msg, isError) {
    var s = document.getElementById('status');
    s.textContent = msg || '';
    s.className = isError ? 'error' : '';
  }

  function api(path, options) {
    return fetch(path, options).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (body) {
        if (!r.ok) {
          var err = new Error(body.detail || (r.status + ' ' + r.statusText));
          err.status = r.status;
          throw err;
        }
        return body;
      });
    });
  }

  window.sitewatchPage = { el: el, say: say, api: api, TOKEN_KEY: 'sitewatch-token' };
})();
