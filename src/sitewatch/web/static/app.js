/* sitewatch analyst page: sites on a map, two dates swiped over each other, detections as
   oriented boxes, events with Confirm/Reject, counts over time, the current assessment.
   Plain script (no build step); Leaflet is the only library, served from /static/vendor. */
(function () {
  'use strict';

  var CLASS_COLOURS = { aircraft: '#4fc3f7', helicopter: '#ffb74d', ship: '#81c784', vehicle: '#e0e0e0',
                        air_defence: '#e57373' };
  var TYPE_COLOURS = ['#4fc3f7', '#ffb74d', '#e57373', '#81c784', '#ba68c8', '#fff176', '#4db6ac', '#f06292',
                      '#a1887f', '#90a4ae'];
  var state = { sites: [], site: null, images: [], events: [], selected: null, layers: {} };
  var $ = function (id) { return document.getElementById(id); };

  var page = window.sitewatchPage, el = page.el, say = page.say, api = page.api;
  var TOKEN_KEY = page.TOKEN_KEY;

  // Tooltips get DOM nodes, never HTML strings: names and types come from the catalog.
  function textBlock(lines) {
    var d = el('div', {});
    lines.forEach(function (t) { d.appendChild(el('div', {}, t)); });
    return d;
  }

  // --- map, panes and the swipe ---------------------------------------------------------
  var map = L.map('map', { zoomSnap: 0.25, maxZoom: 22, attributionControl: false });
  window.sitewatchMap = map;  // for scripted checks (the browser tests read the view from it)
  [['beforeTiles', 210], ['afterTiles', 220], ['beforeBoxes', 410], ['afterBoxes', 420], ['highlight', 450]]
    .forEach(function (p) { map.createPane(p[0]).style.zIndex = p[1]; });
  var renderers = { before: L.svg({ pane: 'beforeBoxes' }), after: L.svg({ pane: 'afterBoxes' }) };
  map.setView([0, 0], 2);

  function swipeFraction() { return Number($('swipe').value) / 100; }

  function clipPanes() {
    var size = map.getSize();
    var x = size.x * swipeFraction();
    var nw = map.containerPointToLayerPoint([0, 0]);
    var se = map.containerPointToLayerPoint(size);
    var cut = map.containerPointToLayerPoint([x, 0]).x;
    // Pane origins sit at layer point (0, 0), so the polygon is written in layer pixels.
    var left = 'polygon(' + nw.x + 'px ' + nw.y + 'px, ' + cut + 'px ' + nw.y + 'px, ' + cut + 'px ' + se.y +
               'px, ' + nw.x + 'px ' + se.y + 'px)';
    var right = 'polygon(' + cut + 'px ' + nw.y + 'px, ' + se.x + 'px ' + nw.y + 'px, ' + se.x + 'px ' + se.y +
                'px, ' + cut + 'px ' + se.y + 'px)';
    map.getPane('afterTiles').style.clipPath = right;
    map.getPane('afterBoxes').style.clipPath = right;
    map.getPane('beforeBoxes').style.clipPath = left;
    $('divider').style.left = x + 'px';
  }
  map.on('move zoom resize viewreset zoomend moveend', clipPanes);
  $('swipe').addEventListener('input', clipPanes);

  // --- sites ----------------------------------------------------------------------------
  var outlines = L.layerGroup().addTo(map);

  function loadSites() {
    return api('/api/sites').then(function (sites) {
      state.sites = sites;
      var sel = $('site-select');
      sel.textContent = '';
      var all = [];
      sites.forEach(function (s) {
        sel.appendChild(el('option', { value: s.name }, s.name + ' (' + s.kind + ', ' + s.image_count + ' images)'));
        if (s.outline) {
          var layer = L.geoJSON(s.outline, { style: { color: '#fdd663', weight: 1, fill: false } });
          layer.bindTooltip(textBlock([s.name]));
          layer.on('click', function () { selectSite(s.name); });
          outlines.addLayer(layer);
          all.push(layer.getBounds());
        }
        var dot = L.circleMarker([s.lat, s.lon], { radius: 5, color: '#fdd663' }).bindTooltip(textBlock([s.name]));
        dot.on('click', function () { selectSite(s.name); });
        outlines.addLayer(dot);
      });
      if (!sites.length) { say('The catalog has no sites yet.'); return; }
      var fromHash = decodeURIComponent((location.hash.match(/site=([^&]+)/) || [])[1] || '');
      var eventHash = decodeURIComponent((location.hash.match(/event=([^&]+)/) || [])[1] || '');
      var first = sites.some(function (s) { return s.name === fromHash; }) ? fromHash : sites[0].name;
      // #site=S&event=E (an alert's review link): the site, then that event selected
      return selectSite(first).then(function () { if (eventHash && first === fromHash) selectEvent(eventHash); });
    });
  }

  function selectSite(name) {
    var site = state.sites.filter(function (s) { return s.name === name; })[0];
    if (!site) return Promise.resolve();
    state.site = site;
    state.selected = null;
    $('site-select').value = name;
    history.replaceState(null, '', '#site=' + encodeURIComponent(name));
    say('Loading ' + name + ' ...');
    var q = '/api/sites/' + encodeURIComponent(name);
    return Promise.all([api(q + '/images'), api(q + '/events'), api(q + '/counts'), api(q + '/tracks')])
    .then(function (r) {
      state.images = r[0];
      state.events = r[1];
      state.tracks = r[3];
      drawTrack(null);
      fillDates();
      drawEvents();
      drawChart(r[2]);
      if (site.outline) map.fitBounds(L.geoJSON(site.outline).getBounds());
      return Promise.all([showDates(), loadAssessment(), loadReports()]);
    }).then(function () { say(''); document.body.dataset.ready = name; }, function (e) { say(e.message, true); });
  }

  // --- dates, tiles and boxes -----------------------------------------------------------
  function dateLabel(img) {
    var a = img.alignment;
    var q = !a ? 'not aligned' : a.status === 'reference' ? 'reference' :
            a.status + ', quality ' + Math.round(a.quality * 100) + '%';
    return img.date + ' (' + q + ')';
  }

  function fillDates() {
    ['before-select', 'after-select'].forEach(function (id) {
      var sel = $(id);
      sel.textContent = '';
      state.images.forEach(function (img) { sel.appendChild(el('option', { value: img.id }, dateLabel(img))); });
    });
    var n = state.images.length;
    if (n) {
      $('before-select').value = state.images[Math.max(0, n - 2)].id;
      $('after-select').value = state.images[n - 1].id;
    }
  }

  function imageById(id) { return state.images.filter(function (i) { return i.id === id; })[0]; }

  function tileLayer(img, pane) {
    var b = img.bounds_lonlat;
    return L.tileLayer(img.tiles, { pane: pane, tileSize: 256, maxNativeZoom: 20, maxZoom: 22,
                                    bounds: L.latLngBounds([b[1], b[0]], [b[3], b[2]]), keepBuffer: 1 });
  }

  function boxesLayer(fc, side) {
    return L.geoJSON(fc, {
      renderer: renderers[side], pane: side + 'Boxes',
      style: function (f) {
        return { color: CLASS_COLOURS[f.properties['class']] || '#ffffff', weight: 2, fillOpacity: 0.08 };
      },
      onEachFeature: function (f, layer) {
        var p = f.properties;
        layer.bindTooltip(textBlock([p.type + ' \u00b7 ' + p.state + ' \u00b7 score ' + Number(p.score).toFixed(2),
                                     p['class'] + ', ' + p.date, 'click: this item on every date']), { sticky: true });
        layer.on('click', function () { showTrackOf(f); });
      }
    });
  }

  function showDates() {
    var sides = { before: imageById($('before-select').value), after: imageById($('after-select').value) };
    var site = encodeURIComponent(state.site.name);
    var jobs = Object.keys(sides).map(function (side) {
      var img = sides[side];
      ['tiles', 'boxes'].forEach(function (k) {
        var old = state.layers[side + k];
        if (old) map.removeLayer(old);
        delete state.layers[side + k];
      });
      $(side + '-label').textContent = img ? img.date : '';
      if (!img) return Promise.resolve();
      state.layers[side + 'tiles'] = tileLayer(img, side + 'Tiles').addTo(map);
      return api('/api/sites/' + site + '/detections?image_id=' + encodeURIComponent(img.id)).then(function (fc) {
        state.layers[side + 'boxes'] = boxesLayer(fc, side).addTo(map);
      });
    });
    clipPanes();
    return Promise.all(jobs);
  }
  $('before-select').addEventListener('change', showDates);
  $('after-select').addEventListener('change', showDates);
  $('site-select').addEventListener('change', function () { selectSite(this.value); });

  // --- events ---------------------------------------------------------------------------
  var highlight = L.layerGroup().addTo(map);

  function eventTitle(e) {
    var words = { arrived: 'arrived', departed: 'departed', moved: 'moved', state_changed: 'changed state' };
    return e.type + ' ' + (words[e.kind] || e.kind);
  }

  function eventDates(e) {
    var b = e.before_date || (e.before ? e.before.date : '?'), a = e.after_date || (e.after ? e.after.date : '?');
    return b + ' \u2192 ' + a;
  }

  function drawEvents() {
    var list = $('events');
    list.textContent = '';
    if (!state.events.length) list.appendChild(el('li', { 'class': 'empty' }, 'No events.'));
    state.events.forEach(function (e) {
      var li = el('li', { 'data-event': e.id });
      var badge = el('span', { 'class': 'verdict' + (e.verdict ? ' ' + e.verdict.verdict : '') },
                     e.verdict ? e.verdict.verdict : 'unreviewed');
      li.appendChild(badge);
      li.appendChild(el('div', { 'class': 'what' }, eventTitle(e)));
      li.appendChild(el('div', { 'class': 'meta' }, eventDates(e) + ' \u00b7 ' + (e.zone || 'no zone') +
                        ' \u00b7 confidence ' + Math.round(e.confidence * 100) + '%'));
      li.appendChild(el('div', { 'class': 'note' }, e.note));
      if (e.grade) {
        var chips = el('div', { 'class': 'meta sources' }, e.grade.replace(/_/g, ' ') + ':');
        (e.sources || []).forEach(function (r) {
          chips.appendChild(el('span', { 'class': 'source ' + r.verdict, title: r.image_id + (r.note ? ': ' + r.note : '') },
                               r.source + ' \u00b7 ' + r.verdict.replace(/_/g, ' ')));
        });
        li.appendChild(chips);
      }
      if (e.evidence.length) li.appendChild(el('div', { 'class': 'meta' }, e.evidence.length + ' evidence item(s)'));
      ['confirmed', 'rejected'].forEach(function (v) {
        var b = el('button', { type: 'button', 'data-verdict': v }, v === 'confirmed' ? 'Confirm' : 'Reject');
        b.addEventListener('click', function (ev) { ev.stopPropagation(); sendVerdict(e, v); });
        li.appendChild(b);
      });
      li.addEventListener('click', function () { selectEvent(e.id); });
      list.appendChild(li);
    });
  }

  function selectEvent(id) {
    var e = state.events.filter(function (x) { return x.id === id; })[0];
    if (!e) return;
    state.selected = id;
    Array.prototype.forEach.call($('events').children, function (li) {
      li.classList.toggle('selected', li.getAttribute('data-event') === id);
    });
    if (imageById(e.before_image)) $('before-select').value = e.before_image;
    if (imageById(e.after_image)) $('after-select').value = e.after_image;
    showDates();
    highlight.clearLayers();
    [e.before, e.after].forEach(function (side, k) {
      if (side) {
        highlight.addLayer(L.geoJSON(side.geometry, { pane: 'highlight', interactive: false,
          style: { color: '#fdd663', weight: 3, dashArray: k ? null : '6 4', fill: false } }));
      }
    });
    var b = e.bounds_lonlat;
    map.fitBounds(L.latLngBounds([b[1], b[0]], [b[3], b[2]]), { padding: [60, 60], maxZoom: 20 });
  }

  function sendVerdict(e, verdict) {
    var token = $('token').value.trim();
    if (!token) { say('Enter the write token to record a verdict.', true); $('token').focus(); return; }
    localStorage.setItem(TOKEN_KEY, token);
    api('/api/events/' + encodeURIComponent(e.id) + '/verdict', {
      method: 'POST', headers: { 'Content-Type': 'application/json', 'Authorization': 'Bearer ' + token },
      body: JSON.stringify({ verdict: verdict })
    }).then(function (updated) {
      state.events = state.events.map(function (x) { return x.id === updated.id ? updated : x; });
      drawEvents();
      if (state.selected) selectEventRow(state.selected);
      say(eventTitle(e) + ': ' + verdict);
      return loadAssessment();
    }, function (err) { say(err.status === 401 ? 'The token was refused.' : err.message, true); });
  }

  function selectEventRow(id) {
    Array.prototype.forEach.call($('events').children, function (li) {
      li.classList.toggle('selected', li.getAttribute('data-event') === id);
    });
  }

  // --- assessment -----------------------------------------------------------------------
  function loadAssessment() {
    return api('/api/sites/' + encodeURIComponent(state.site.name) + '/assessment').then(drawAssessment);
  }

  function list(items, cls) {
    var ul = el('ul', cls ? { 'class': cls } : {});
    items.forEach(function (t) { ul.appendChild(el('li', {}, t)); });
    return ul;
  }

  function drawAssessment(body) {
    var box = $('assessment-body');
    box.textContent = '';
    var a = body.assessment, r = body.review;
    if (!a) { box.appendChild(el('p', {}, 'No assessment yet: run the site.')); return; }
    box.appendChild(el('p', { 'class': 'headline' }, a.headline));
    var badges = el('div', { 'class': 'badges' });
    [a.posture.replace(/_/g, ' '), a.likelihood, a.confidence + ' confidence'].forEach(function (t) {
      badges.appendChild(el('span', {}, t));
    });
    box.appendChild(badges);
    if (a.indicators.length) box.appendChild(list(a.indicators));
    box.appendChild(el('div', { 'class': 'meta' }, 'Analyst review: ' + r.counts.confirmed + ' confirmed, ' +
                       r.counts.rejected + ' rejected, ' + r.counts.unreviewed + ' unreviewed'));
    if (body.reviewed) {
      var rv = el('div', { 'class': 'reviewed' });
      rv.appendChild(el('p', { 'class': 'label' }, 'Without the ' + body.reviewed.without_events.length +
                        ' rejected event(s):'));
      rv.appendChild(el('p', { 'class': 'headline' }, body.reviewed.headline));
      box.appendChild(rv);
    }
    box.appendChild(el('h2', {}, 'Caveats'));
    box.appendChild(list(r.caveats.concat(a.caveats), 'caveats'));
  }

  // --- tracks: one item on every date ------------------------------------------------
  function centroid(geometry) {
    var ring = geometry.coordinates[0].slice(0, -1), x = 0, y = 0;
    ring.forEach(function (p) { x += p[0]; y += p[1]; });
    return [x / ring.length, y / ring.length];
  }

  function metresApart(a, b) {
    var k = 111320, dx = (a[0] - b[0]) * k * Math.cos(a[1] * Math.PI / 180), dy = (a[1] - b[1]) * k;
    return Math.sqrt(dx * dx + dy * dy);
  }

  // The track whose sighting on the box's image lies nearest the box (within half its length).
  function showTrackOf(feature) {
    var p = feature.properties, c = centroid(feature.geometry), best = null, bestD = Infinity;
    (state.tracks || []).forEach(function (t) {
      t.sightings.forEach(function (s) {
        if (s.image_id !== p.image_id) return;
        var d = metresApart(c, centroid(s.geometry));
        if (d < bestD) { bestD = d; best = t; }
      });
    });
    drawTrack(best && bestD <= Math.max(5, p.length_m / 2) ? best : null, feature);
  }

  function drawTrack(track, feature) {
    var box = $('track');
    box.textContent = '';
    if (!track) {
      box.appendChild(el('p', {}, feature ? 'This box belongs to no stored track.' : 'Click a box to follow it.'));
      return;
    }
    box.appendChild(el('p', { 'class': 'what' }, track.type + ' (' + track['class'] + '), ' + track.id));
    var ol = el('ol', {});
    track.sightings.forEach(function (s) {
      ol.appendChild(el('li', {}, s.date + ': ' + s.state + ', score ' + Number(s.score).toFixed(2)));
    });
    box.appendChild(ol);
    highlight.clearLayers();
    track.sightings.forEach(function (s) {
      highlight.addLayer(L.geoJSON(s.geometry, { pane: 'highlight', interactive: false,
        style: { color: '#fdd663', weight: 2, dashArray: '2 4', fill: false } }));
    });
  }

  // --- reports and reprocessing --------------------------------------------------------
  function loadReports() {
    return api('/api/sites/' + encodeURIComponent(state.site.name) + '/reports').then(function (files) {
      var ul = $('reports');
      ul.textContent = '';
      if (!files.length) ul.appendChild(el('li', {}, 'No report yet.'));
      files.forEach(function (f) {
        var li = el('li', {});
        li.appendChild(el('a', { href: f.url, target: '_blank', rel: 'noopener' }, f.name));
        li.appendChild(document.createTextNode(' (' + Math.max(1, Math.round(f.bytes / 1024)) + ' KiB)'));
        ul.appendChild(li);
      });
    });
  }

  function pollJob(job) {
    say('Job ' + job.status + (job.stage ? ': ' + job.stage + ' ' + job.done + '/' + job.total : ''));
    if (job.status === 'done' || job.status === 'failed') {
      $('reassess').disabled = false;
      if (job.status === 'failed') { say('Job failed: ' + job.message, true); return; }
      return selectSite(state.site.name).then(function () {
        say('Reassessed; ' + job.verdicts_restored + ' verdict(s) kept.');
      });
    }
    setTimeout(function () { api('/api/jobs/' + job.id).then(pollJob, function (e) { say(e.message, true); }); }, 700);
  }

  $('reassess').addEventListener('click', function () {
    var token = $('token').value.trim();
    if (!token) { say('Enter the write token to start a job.', true); $('token').focus(); return; }
    this.disabled = true;
    api('/api/sites/' + encodeURIComponent(state.site.name) + '/jobs', {
      method: 'POST', headers: { 'Content-Type': 'application/json', 'Authorization': 'Bearer ' + token },
      body: JSON.stringify({ align: false, detect: false })
    }).then(pollJob, function (err) {
      $('reassess').disabled = false;
      say(err.status === 401 ? 'The token was refused.' : err.message, true);
    });
  });

  // --- counts chart ---------------------------------------------------------------------
  function svg(tag, attrs, text) {
    var e = document.createElementNS('http://www.w3.org/2000/svg', tag);
    Object.keys(attrs).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    if (text !== undefined) e.textContent = String(text);
    return e;
  }

  function drawChart(data) {
    var box = $('chart');
    box.textContent = '';
    var W = 350, H = 180, L0 = 28, R0 = 8, T0 = 8, B0 = 22;
    var dates = data.dates, types = data.types;
    if (!dates.length || !types.length) { box.appendChild(el('p', {}, 'No detections yet.')); return; }
    var max = 1;
    dates.forEach(function (d) { types.forEach(function (t) { max = Math.max(max, d.counts[t] || 0); }); });
    var x = function (i) { return L0 + (dates.length === 1 ? 0.5 : i / (dates.length - 1)) * (W - L0 - R0); };
    var y = function (v) { return T0 + (1 - v / max) * (H - T0 - B0); };
    var root = svg('svg', { viewBox: '0 0 ' + W + ' ' + H, role: 'img', 'aria-label': 'Detections per type' });
    [0, max].forEach(function (v) {
      root.appendChild(svg('line', { x1: L0, x2: W - R0, y1: y(v), y2: y(v), stroke: '#353a43' }));
      root.appendChild(svg('text', { x: L0 - 4, y: y(v) + 3, 'text-anchor': 'end' }, v));
    });
    dates.forEach(function (d, i) {
      root.appendChild(svg('text', { x: x(i), y: H - 6, 'text-anchor': 'middle' }, d.date.slice(5)));
    });
    var legend = $('legend');
    legend.textContent = '';
    types.forEach(function (t, k) {
      var colour = TYPE_COLOURS[k % TYPE_COLOURS.length];
      var pts = dates.map(function (d, i) { return x(i) + ',' + y(d.counts[t] || 0); }).join(' ');
      var line = svg('polyline', { points: pts, fill: 'none', stroke: colour, 'stroke-width': 2, 'data-type': t });
      line.appendChild(svg('title', {}, t));
      root.appendChild(line);
      dates.forEach(function (d, i) {
        var dot = svg('circle', { cx: x(i), cy: y(d.counts[t] || 0), r: 3, fill: colour });
        dot.appendChild(svg('title', {}, t + ' on ' + d.date + ': ' + (d.counts[t] || 0)));
        root.appendChild(dot);
      });
      var li = el('li', {});
      var sw = el('i', {});
      sw.style.background = colour;
      li.appendChild(sw);
      li.appendChild(document.createTextNode(t));
      legend.appendChild(li);
    });
    Object.keys(CLASS_COLOURS).forEach(function (c) {
      var li = el('li', {});
      var sw = el('i', {});
      sw.style.border = '2px solid ' + CLASS_COLOURS[c];
      li.appendChild(sw);
      li.appendChild(document.createTextNode(c + ' (box)'));
      legend.appendChild(li);
    });
    box.appendChild(root);
  }

  // --- start ----------------------------------------------------------------------------
  $('token').value = localStorage.getItem(TOKEN_KEY) || '';
  $('token').addEventListener('change', function () { localStorage.setItem(TOKEN_KEY, this.value.trim()); });
  loadSites().catch(function (e) { say(e.message, true); });
})();
