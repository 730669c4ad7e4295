/* sitewatch alerts inbox: the alerts `sitewatch watch` raised, newest first, each linked to
   the analyst page that reviews its event, with Acknowledge (needs the write token).
   Plain script, no library; every text from the catalog goes in as text, never as HTML. */
(function () {
  'use strict';

  var page = window.sitewatchPage, el = page.el, say = page.say, api = page.api;
  var TOKEN_KEY = page.TOKEN_KEY;  // shared with the analyst page
  var $ = function (id) { return document.getElementById(id); };

  function delivery(a) {
    var words = a.delivery === 'none' ? 'feed only' : 'webhook ' + a.delivery;
    if (a.attempts > 1) words += ' (' + a.attempts + ' tries)';
    if (a.emails_dead) words += ', ' + a.emails_dead + ' e-mail(s) dead';
    return words;
  }

  function row(a) {
    var li = el('li', { 'data-alert': a.id, 'data-kind': a.kind, 'class': a.acknowledged ? 'acknowledged' : '' });
    var title = el('a', { href: a.review, 'class': 'what' }, a.title);
    li.appendChild(title);
    li.appendChild(el('div', { 'class': 'meta' }, a.created.replace('T', ' ').slice(0, 19) + ' UTC \u00b7 ' + a.site +
                      ' \u00b7 ' + a.kind + ' \u00b7 ' + delivery(a)));
    if (a.retracts) li.appendChild(el('div', { 'class': 'note' }, 'Retracts alert ' + a.retracts + ': ' +
                                      ((a.payload.data || {}).why || '')));
    if (a.revises && a.revises.length) {
      li.appendChild(el('div', { 'class': 'note' }, 'Revises alert ' + a.revises.join(', ') + ' (retracted)'));
    }
    if (a.delivery === 'dead' && a.last_error) li.appendChild(el('div', { 'class': 'note' }, a.last_error));
    if (a.acknowledged) {
      li.appendChild(el('div', { 'class': 'meta' }, 'acknowledged ' + a.acknowledged.replace('T', ' ').slice(0, 19)));
    } else {
      var b = el('button', { type: 'button', 'data-action': 'acknowledge' }, 'Acknowledge');
      b.addEventListener('click', function () { acknowledge(a); });
      li.appendChild(b);
    }
    return li;
  }

  function load() {
    var q = [];
    if ($('site-filter').value) q.push('site=' + encodeURIComponent($('site-filter').value));
    if ($('unacked').checked) q.push('unacknowledged=true');
    if ($('dead').checked) q.push('dead=true');
    say('Loading ...');
    return api('/api/alerts' + (q.length ? '?' + q.join('&') : '')).then(function (alerts) {
      var list = $('alerts');
      list.textContent = '';
      if (!alerts.length) list.appendChild(el('li', { 'class': 'empty' }, 'No alerts.'));
      alerts.forEach(function (a) { list.appendChild(row(a)); });
      say('');
      document.body.dataset.ready = 'alerts';
    }, function (e) { say(e.message, true); });
  }

  function acknowledge(a) {
    var token = $('token').value.trim();
    if (!token) { say('Enter the write token to acknowledge.', true); $('token').focus(); return; }
    localStorage.setItem(TOKEN_KEY, token);
    api('/api/alerts/' + encodeURIComponent(a.id) + '/acknowledge', {
      method: 'POST', headers: { 'Authorization': 'Bearer ' + token }
    }).then(load, function (err) { say(err.status === 401 ? 'The token was refused.' : err.message, true); });
  }

  $('token').value = localStorage.getItem(TOKEN_KEY) || '';
  $('token').addEventListener('change', function () { localStorage.setItem(TOKEN_KEY, this.value.trim()); });
  ['site-filter', 'unacked', 'dead'].forEach(function (id) { $(id).addEventListener('change', load); });
  api('/api/sites').then(function (sites) {
    sites.forEach(function (s) { $('site-filter').appendChild(el('option', { value: s.name }, s.name)); });
    return load();
  }).catch(function (e) { say(e.message, true); });
})();
