// authwatch dashboard: reads the query API (/api/v1, SPEC §3) with the bearer
// token the user pasted and draws what it answers. No framework and no
// third-party code; charts are SVG built here. Text from the API is only ever
// inserted as text nodes, never parsed as HTML.
'use strict';

(() => {
  const TOKEN_KEY = 'authwatch.token';
  const REFRESH_MS = 60 * 1000;
  // The alert stream writes a comment every 10 s; silence for this long
  // means the connection is dead even if the socket has not noticed.
  const STREAM_SILENCE_MS = 35 * 1000;
  const LIVE_ALERTS_KEPT = 100;
  const STATUSES = [
    { key: 'success', label: 'Success' },
    { key: 'failed', label: 'Failed' },
    { key: 'blocked', label: 'Blocked' },
    { key: '2fa_required', label: '2FA required' },
    { key: '2fa_failed', label: '2FA failed' },
  ];
  const HOUR = 3600 * 1000;
  const DAY = 24 * HOUR;

  const $ = (id) => document.getElementById(id);
  const fmtInt = new Intl.NumberFormat();
  const fmtPct = new Intl.NumberFormat(undefined, { style: 'percent', minimumFractionDigits: 1, maximumFractionDigits: 1 });
  const fmtHour = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });
  const fmtDayHour = new Intl.DateTimeFormat(undefined, { weekday: 'short', hour: '2-digit', minute: '2-digit' });
  const fmtTime = new Intl.DateTimeFormat(undefined, { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit' });
  const fmtDay = new Intl.DateTimeFormat(undefined, { month: 'short', day: 'numeric', timeZone: 'UTC' });

  let token = '';
  // generation changes at every sign-in and sign-out; an answer that
  // arrives for an earlier one is dropped, so one token's data never shows
  // under another.
  let generation = 0;
  let streamCtrl = null; // aborts the alert stream
  let refreshTimer = 0;
  const retryTimers = new Map(); // panel id -> timer of a 503 retry

  // ---- small DOM helpers -------------------------------------------------

  // el builds an element; strings among children become text nodes.
  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    setAttrs(e, attrs);
    append(e, children);
    return e;
  }
  const SVG_NS = 'http://www.w3.org/2000/svg';
  function svg(tag, attrs, ...children) {
    const e = document.createElementNS(SVG_NS, tag);
    setAttrs(e, attrs);
    append(e, children);
    return e;
  }
  function setAttrs(e, attrs) {
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      e.setAttribute(k, v === true ? '' : String(v));
    }
  }
  function append(e, children) {
    for (const c of children.flat()) {
      if (c === undefined || c === null || c === false) continue;
      e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
  }
  function clear(e) { e.replaceChildren(); }

  // table renders rows under columns {label, num, get(row)}.
  function table(columns, rows, emptyText, caption) {
    if (!rows.length) return el('p', { class: 'empty-note' }, emptyText);
    return el('table', {},
      caption ? el('caption', { class: 'muted' }, caption) : null,
      el('thead', {}, el('tr', {}, columns.map((c) => el('th', { scope: 'col', class: c.num ? 'num' : null }, c.label)))),
      el('tbody', {}, rows.map((r) => el('tr', {}, columns.map((c) => el('td', { class: c.num ? 'num' : null }, c.get(r)))))));
  }

  const utcDate = (ms) => new Date(ms).toISOString().slice(0, 10);
  const sleep = (ms, signal) => new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => { clearTimeout(t); resolve(); }, { once: true });
  });

  // ---- the API -------------------------------------------------------------

  class Stale extends Error {}

  class APIError extends Error {
    constructor(status, message, retryAfter) {
      super(message);
      this.status = status;
      this.retryAfter = retryAfter || 0;
    }
  }

  async function request(path, params, init) {
    const url = new URL(path, location.origin);
    for (const [k, v] of Object.entries(params || {})) url.searchParams.set(k, v);
    try {
      return await fetch(url, {
        cache: 'no-store',
        ...init,
        headers: { Authorization: 'Bearer ' + token, Accept: 'application/json', ...(init?.headers || {}) },
      });
    } catch (e) {
      if (e.name === 'AbortError') throw e;
      throw new APIError(0, 'The server did not answer (' + e.message + '). Is cmd/query running?');
    }
  }

  async function api(path, params) {
    const gen = generation;
    const resp = await request(path, params);
    const body = resp.ok ? await resp.json() : await errorFrom(resp);
    if (gen !== generation) throw new Stale();
    if (!resp.ok) throw body;
    return body;
  }

  // errorFrom reads the API's JSON error ({"message", "errors"}).
  async function errorFrom(resp) {
    let message = '';
    try {
      const body = await resp.json();
      message = body.message || '';
      if (body.errors) {
        message += ' ' + Object.entries(body.errors).map(([k, v]) => k + ': ' + [].concat(v).join(' ')).join('; ');
      }
    } catch { /* not JSON: use the status text */ }
    return new APIError(resp.status, message || resp.statusText, Number(resp.headers.get('Retry-After')) || 0);
  }

  function describe(err) {
    switch (err.status) {
      case 401:
        return 'The token was refused (401 Unauthenticated): it is malformed, expired, or signed with another key. Sign in again with a valid token.';
      case 403:
        return 'Not allowed (403): this token lacks the admin.audit_log permission that this panel needs.';
      case 404:
        return 'Not found (404): ' + err.message;
      case 503:
        return 'Service unavailable (503): ' + err.message + (err.retryAfter ? ' Retrying in ' + err.retryAfter + ' s.' : '');
      case 0:
        return err.message;
      default:
        return 'Request failed (' + err.status + '): ' + err.message;
    }
  }

  // ---- panels ----------------------------------------------------------------

  // panel runs load for the section holding anchor, showing its failure in
  // the section's error box: a 401 signs out, a 503 retries after Retry-After.
  async function panel(anchorId, load) {
    const section = $(anchorId).closest('section');
    const box = section.querySelector('.panel-error');
    clearTimeout(retryTimers.get(anchorId));
    try {
      await load();
      box.hidden = true;
      clear(box);
      return true;
    } catch (err) {
      if (err instanceof Stale) return false;
      if (!(err instanceof APIError)) {
        console.error(err);
        err = new APIError(-1, String(err && err.message || err));
      }
      if (err.status === 401) {
        signOut(describe(err));
        return false;
      }
      clear(box);
      append(box, [el('strong', {}, 'Could not load: '), describe(err)]);
      box.hidden = false;
      if (err.status === 503 || err.status === 0) {
        retryTimers.set(anchorId, setTimeout(() => panel(anchorId, load), (err.retryAfter || 10) * 1000));
      }
      return false;
    }
  }

  // Logins per hour of the last 24 hours, by status, with the failure rate.
  async function loadLogins() {
    const now = Date.now();
    const lastHour = Math.floor(now / HOUR) * HOUR;
    const firstHour = lastHour - 23 * HOUR;
    const data = await api('/api/v1/analytics/logins', { interval: 'hour', from: utcDate(firstHour), to: utcDate(lastHour) });
    const buckets = data.buckets.filter((b) => {
      const t = Date.parse(b.bucket);
      return t >= firstHour && t <= lastHour;
    });
    const sum = (k) => buckets.reduce((n, b) => n + (b[k] || 0), 0);
    const totals = Object.fromEntries(STATUSES.map((s) => [s.key, sum(s.key)]));
    const all = STATUSES.reduce((n, s) => n + totals[s.key], 0);
    const failures = totals.failed + totals['2fa_failed'];
    const attempts = totals.success + failures;
    $('stat-total').textContent = fmtInt.format(all);
    $('stat-success').textContent = fmtInt.format(totals.success);
    $('stat-failed').textContent = fmtInt.format(failures);
    $('stat-blocked').textContent = fmtInt.format(totals.blocked);
    $('stat-failure-rate').textContent = attempts ? fmtPct.format(failures / attempts) : 'no attempts';
    $('stat-failure-rate').dataset.value = attempts ? String(failures / attempts) : '';

    const labels = buckets.map((b) => new Date(b.bucket));
    barChart($('logins-chart'), {
      id: 'logins',
      title: 'Login events per hour by status, last 24 hours',
      desc: fmtInt.format(all) + ' login events, ' + fmtInt.format(failures) + ' failed.',
      labels,
      tickLabel: (d, i) => (i === 0 || d.getHours() === 0 ? fmtDayHour : fmtHour).format(d),
      pointLabel: (d) => fmtDayHour.format(d),
      series: STATUSES.map((s) => ({ key: s.key, label: s.label, values: buckets.map((b) => b[s.key] || 0) })),
      emptyText: 'No login events in the last 24 hours.',
    });
    const legend = $('logins-legend');
    clear(legend);
    append(legend, STATUSES.map((s) => el('li', {}, el('span', { class: 'swatch s-' + s.key }), s.label)));
    clear($('logins-table'));
    $('logins-table').append(table(
      [{ label: 'Hour', get: (b) => fmtDayHour.format(new Date(b.bucket)) },
        ...STATUSES.map((s) => ({ label: s.label, num: true, get: (b) => fmtInt.format(b[s.key] || 0) })),
        { label: 'Users', num: true, get: (b) => fmtInt.format(b.unique_users) },
        { label: 'IPs', num: true, get: (b) => fmtInt.format(b.unique_ips) }],
      buckets, 'No hours.'));
  }

  // Top failing IPs: of failed logins (from the latest 100 failures, as no
  // route aggregates login failures by IP) and of token failures (exact).
  async function loadFailingIPs() {
    const since = Date.now() - DAY;
    const [logins, tokens] = await Promise.all([
      api('/api/v1/login-history/tenant', { status: 'failed', from: utcDate(since), per_page: 100 }),
      api('/api/v1/security/suspicious-ips', { minutes: 1440, min_failures: 0 }),
    ]);
    const byIP = new Map();
    for (const item of logins.history) {
      const t = Date.parse(item.created_at);
      if (t < since) continue;
      const e = byIP.get(item.ip_address) || { ip: item.ip_address, count: 0, users: new Set(), last: 0, country: item.country };
      e.count++;
      if (item.user_id) e.users.add(item.user_id);
      e.last = Math.max(e.last, t);
      byIP.set(item.ip_address, e);
    }
    const rows = [...byIP.values()].sort((a, b) => b.count - a.count || (a.ip < b.ip ? -1 : 1)).slice(0, 10);
    clear($('login-ips'));
    $('login-ips').append(table([
      { label: 'IP address', get: (r) => el('code', {}, r.ip) },
      { label: 'Country', get: (r) => r.country || '–' },
      { label: 'Failures', num: true, get: (r) => fmtInt.format(r.count) },
      { label: 'Users', num: true, get: (r) => fmtInt.format(r.users.size) },
      { label: 'Last', get: (r) => fmtTime.format(new Date(r.last)) },
    ], rows, 'No failed logins in the last 24 hours.'));
    clear($('token-ips'));
    $('token-ips').append(table([
      { label: 'IP address', get: (r) => el('code', {}, r.ip_address) },
      { label: 'Failures', num: true, get: (r) => fmtInt.format(r.count) },
    ], tokens.slice(0, 10), 'No token failures in the last 24 hours.'));
  }

  async function loadLockouts() {
    const list = await api('/api/v1/lockouts');
    clear($('lockouts'));
    $('lockouts').append(table([
      { label: 'IP address', get: (r) => el('code', {}, r.ip_address) },
      { label: 'Failed attempts', num: true, get: (r) => fmtInt.format(r.failed_attempts) },
      { label: 'Locked until', get: (r) => lockedUntil(r.locked_until) },
    ], list, 'No IP is locked out.'));
  }

  function lockedUntil(s) {
    const t = Date.parse(s);
    const mins = Math.max(0, Math.ceil((t - Date.now()) / 60000));
    return fmtTime.format(new Date(t)) + ' (' + (mins <= 1 ? 'under a minute' : mins + ' min') + ')';
  }

  // ---- alerts: the stored list and the live stream --------------------------

  const liveIDs = new Set();

  function alertItem(a, live) {
    const who = (a.user_id ? 'user ' + a.user_id + ' · ' : '') + 'IP ' + a.ip_address + (a.country ? ' (' + a.country + ')' : '');
    const when = new Date(a.detected_at || a.occurred_at);
    return el('li', { class: live ? 'live' : 'stored', 'data-alert-id': a.id, 'data-rule': a.rule },
      el('time', { datetime: a.occurred_at }, fmtTime.format(new Date(a.occurred_at))),
      el('span', {}, el('span', { class: 'badge ' + a.severity }, a.severity)),
      el('strong', {}, a.rule.replaceAll('_', ' '), live ? el('span', { class: 'badge new', title: 'raised at ' + fmtTime.format(when) }, 'new') : null),
      el('span', { class: 'who-where' }, who),
      el('span', { class: 'reasons' }, (a.reasons || []).join('; ')));
  }

  async function loadAlerts() {
    const page = await api('/api/v1/alerts', { per_page: 20 });
    const list = $('alerts');
    for (const li of list.querySelectorAll('li.stored, li.empty-note')) li.remove();
    const items = page.history.filter((a) => !liveIDs.has(a.id)).map((a) => alertItem(a, false));
    if (!items.length && !liveIDs.size) items.push(el('li', { class: 'empty-note' }, 'No alerts yet.'));
    list.append(...items);
  }

  function addLiveAlert(a) {
    if (!a || !a.id || liveIDs.has(a.id)) return;
    liveIDs.add(a.id);
    const list = $('alerts');
    list.querySelector(`li.stored[data-alert-id="${CSS.escape(a.id)}"]`)?.remove();
    list.querySelector('li.empty-note')?.remove();
    list.prepend(alertItem(a, true));
    // Announced once to screen readers; the list itself is not a live
    // region, or every refresh of the stored alerts would be read out.
    $('alert-announcer').textContent = 'New ' + a.severity + ' alert: ' + a.rule.replaceAll('_', ' ') + (a.user_id ? ' for user ' + a.user_id : '') + ' from ' + a.ip_address + '.';
    const live = list.querySelectorAll('li.live');
    for (let i = LIVE_ALERTS_KEPT; i < live.length; i++) {
      liveIDs.delete(live[i].dataset.alertId);
      live[i].remove();
    }
  }

  function setStreamState(state, text) {
    const s = $('stream-state');
    s.dataset.state = state;
    s.textContent = text;
  }

  // The alert stream is Server-Sent Events, read with fetch because
  // EventSource cannot send an Authorization header.
  async function runStream() {
    stopStream();
    const ctrl = new AbortController();
    streamCtrl = ctrl;
    let backoff = 1000;
    while (!ctrl.signal.aborted) {
      let wait = backoff;
      setStreamState('connecting', 'connecting…');
      try {
        await readStream(ctrl.signal);
        if (ctrl.signal.aborted) return;
        setStreamState('connecting', 'the stream ended; reconnecting…');
        backoff = 1000;
        wait = backoff;
      } catch (err) {
        if (ctrl.signal.aborted) return;
        if (!(err instanceof APIError)) err = new APIError(0, 'The alert stream broke (' + (err && err.message || err) + ').');
        if (err.status === 401) { signOut(describe(err)); return; }
        if (err.status === 403) {
          setStreamState('error', 'not allowed (403)');
          return;
        }
        wait = err.retryAfter ? err.retryAfter * 1000 : backoff;
        setStreamState('error', describe(err) + ' Reconnecting in ' + Math.round(wait / 1000) + ' s.');
        backoff = Math.min(backoff * 2, 30000);
      }
      await sleep(wait, ctrl.signal);
    }
  }

  function stopStream() {
    streamCtrl?.abort();
    streamCtrl = null;
    setStreamState('off', 'not connected');
  }

  async function readStream(signal) {
    const resp = await request('/api/v1/alerts/stream', null, { signal, headers: { Accept: 'text/event-stream' } });
    if (!resp.ok) throw await errorFrom(resp);
    const reader = resp.body.pipeThrough(new TextDecoderStream()).getReader();
    const parse = sseParser((event, data) => {
      if (event !== 'alert' || signal.aborted) return;
      try { addLiveAlert(JSON.parse(data)); } catch (e) { console.warn('alert stream: not an alert', e, data); }
    }, (comment) => {
      if (comment === 'stream open') setStreamState('live', 'live');
    });
    let silence = 0;
    const watch = () => {
      clearTimeout(silence);
      silence = setTimeout(() => reader.cancel('silent for too long'), STREAM_SILENCE_MS);
    };
    const onAbort = () => reader.cancel('closed');
    signal.addEventListener('abort', onAbort, { once: true });
    watch();
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        watch();
        parse(value);
      }
    } finally {
      clearTimeout(silence);
      signal.removeEventListener('abort', onAbort);
    }
  }

  // sseParser returns a function fed with chunks of the stream; it calls
  // dispatch(event, data) for each complete event and comment(text) for each
  // comment line (": ..."), as the SSE specification reads them.
  function sseParser(dispatch, comment) {
    let buf = '';
    let event = '';
    let data = [];
    return (chunk) => {
      buf += chunk;
      for (;;) {
        const i = buf.search(/[\r\n]/);
        if (i < 0) return;
        if (buf[i] === '\r' && i === buf.length - 1) return; // may be half of \r\n
        const line = buf.slice(0, i);
        buf = buf.slice(buf.startsWith('\r\n', i) ? i + 2 : i + 1);
        if (line === '') {
          if (data.length) dispatch(event || 'message', data.join('\n'));
          event = '';
          data = [];
        } else if (line[0] === ':') {
          comment(line.slice(1).trim());
        } else {
          const c = line.indexOf(':');
          const field = c < 0 ? line : line.slice(0, c);
          let value = c < 0 ? '' : line.slice(c + 1);
          if (value[0] === ' ') value = value.slice(1);
          if (field === 'event') event = value;
          else if (field === 'data') data.push(value);
        }
      }
    };
  }

  // ---- token usage --------------------------------------------------------

  async function loadTopTokens() {
    const top = await api('/api/v1/tokens/top', { limit: 10 });
    const list = $('usage-tokens');
    clear(list);
    append(list, top.map((t) => el('option', { value: t.token_id }, (t.token_name || t.token_id) + ' · ' + fmtInt.format(t.uses) + ' uses')));
    const input = $('usage-token');
    if (!input.value && top.length) {
      input.value = top[0].token_id;
      await loadUsage();
    }
  }

  async function loadUsage() {
    const id = $('usage-token').value.trim();
    if (!id) return;
    const days = $('usage-days').value;
    const base = '/api/v1/tokens/' + encodeURIComponent(id);
    let daily, summary, ips;
    try {
      [daily, summary, ips] = await Promise.all([
        api(base + '/usage', { days }),
        api(base + '/summary'),
        api(base + '/usage/ips', { days, limit: 10 }),
      ]);
    } catch (err) {
      $('usage-result').hidden = true;
      if (err.status === 404) err.message = 'no token "' + id + '" that this token may see.';
      throw err;
    }
    const total = daily.reduce((n, d) => n + d.count, 0);
    $('usage-window').textContent = fmtInt.format(total);
    $('usage-total').textContent = fmtInt.format(summary.total_uses);
    $('usage-7d').textContent = fmtInt.format(summary.uses_last_7_days);
    $('usage-last').textContent = summary.last_used_at ? fmtTime.format(new Date(summary.last_used_at)) : 'never';
    const labels = daily.map((d) => new Date(d.date + 'T00:00:00Z'));
    barChart($('usage-chart'), {
      id: 'usage',
      title: 'Uses per day of token ' + id + ', last ' + days + ' days',
      desc: fmtInt.format(total) + ' uses.',
      labels,
      tickLabel: (d) => fmtDay.format(d),
      pointLabel: (d) => fmtDay.format(d) + ' (UTC)',
      series: [{ key: 'uses', label: 'Uses', values: daily.map((d) => d.count) }],
      emptyText: 'No uses in this window.',
    });
    clear($('usage-ips'));
    $('usage-ips').append(table([
      { label: 'IP address', get: (r) => el('code', {}, r.ip_address) },
      { label: 'Uses', num: true, get: (r) => fmtInt.format(r.count) },
    ], ips, 'No uses in this window.'));
    $('usage-result').hidden = false;
  }

  // ---- the chart ------------------------------------------------------------

  // barChart draws stacked bars: one column per label, one segment per series
  // with a non-zero value (each a <rect> carrying data-series and data-count).
  function barChart(container, o) {
    const W = 960, H = 260, L = 48, R = 12, T = 12, B = 30;
    const n = o.labels.length;
    const totals = o.labels.map((_, i) => o.series.reduce((s, ser) => s + ser.values[i], 0));
    const max = Math.max(0, ...totals);
    const titleId = o.id + '-chart-title', descId = o.id + '-chart-desc';
    const root = svg('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-labelledby': titleId + ' ' + descId, 'data-total': totals.reduce((a, b) => a + b, 0) },
      svg('title', { id: titleId }, o.title),
      svg('desc', { id: descId }, o.desc));
    const plotH = H - T - B, plotW = W - L - R;
    const step = niceStep(max, 4);
    const top = max ? Math.ceil(max / step) * step : 1;
    const y = (v) => T + plotH - (v / top) * plotH;
    for (let v = 0; v <= top + 1e-9 && max; v += step) {
      root.append(svg('line', { class: 'grid', x1: L, x2: W - R, y1: y(v), y2: y(v) }),
        svg('text', { class: 'axis-label', x: L - 6, y: y(v) + 4, 'text-anchor': 'end' }, fmtInt.format(v)));
    }
    const band = plotW / Math.max(n, 1);
    const gap = Math.min(4, band * 0.2);
    const every = Math.max(1, Math.ceil(n / 12));
    o.labels.forEach((label, i) => {
      const x = L + i * band + gap / 2;
      let acc = 0;
      const g = svg('g', { 'data-index': i });
      for (const ser of o.series) {
        const v = ser.values[i];
        if (!v) continue;
        g.append(svg('rect', {
          class: 's-' + ser.key, x: x.toFixed(1), width: (band - gap).toFixed(1),
          y: y(acc + v).toFixed(1), height: Math.max(0.5, y(acc) - y(acc + v)).toFixed(1),
          'data-series': ser.key, 'data-count': v,
        }, svg('title', {}, o.pointLabel(label) + ': ' + fmtInt.format(v) + ' ' + ser.label.toLowerCase())));
        acc += v;
      }
      root.append(g);
      if (i % every === 0) {
        root.append(svg('text', { class: 'axis-label', x: (x + (band - gap) / 2).toFixed(1), y: H - 10, 'text-anchor': 'middle' }, o.tickLabel(label, i)));
      }
    });
    if (!max) root.append(svg('text', { class: 'empty', x: W / 2, y: H / 2, 'text-anchor': 'middle' }, o.emptyText));
    clear(container);
    container.append(root);
  }

  // niceStep picks a gridline step of 1, 2 or 5 × 10^k giving about n lines.
  function niceStep(max, n) {
    if (max <= 0) return 1;
    const raw = max / n;
    const mag = 10 ** Math.floor(Math.log10(raw));
    const f = raw / mag;
    return Math.max(1, (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * mag);
  }

  // ---- sign-in and the page's life ---------------------------------------------

  // claims decodes the token's payload for display only; the server checks it.
  function claims(jwt) {
    try {
      const p = jwt.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
      const bin = atob(p + '='.repeat((4 - (p.length % 4)) % 4));
      return JSON.parse(new TextDecoder().decode(Uint8Array.from(bin, (ch) => ch.charCodeAt(0))));
    } catch {
      return null;
    }
  }

  function banner(text, kind) {
    const b = $('banner');
    clear(b);
    if (!text) { b.hidden = true; return; }
    b.className = 'banner' + (kind === 'info' ? ' info' : '');
    append(b, [kind === 'info' ? null : el('strong', {}, 'Signed out. '), text]);
    b.hidden = false;
  }

  // resetBoard empties every panel, so nothing of one token stays for the next.
  function resetBoard() {
    for (const dd of document.querySelectorAll('#board dd')) dd.textContent = '–';
    for (const id of ['logins-chart', 'logins-legend', 'logins-table', 'login-ips', 'token-ips', 'lockouts', 'alerts', 'alert-announcer', 'usage-tokens', 'usage-chart', 'usage-ips']) clear($(id));
    for (const box of document.querySelectorAll('#board .panel-error')) { box.hidden = true; clear(box); }
    $('usage-token').value = '';
    $('usage-result').hidden = true;
    $('updated').textContent = '';
    liveIDs.clear();
  }

  function signIn(raw) {
    token = raw.trim().replace(/^Bearer\s+/i, '');
    if (!token) return;
    generation++;
    resetBoard();
    sessionStorage.setItem(TOKEN_KEY, token);
    $('token').value = '';
    const c = claims(token);
    const who = $('who');
    if (c) {
      const admin = (c.permissions || []).includes('admin.audit_log');
      who.textContent = 'tenant ' + c.tenant_id + ' · ' + c.sub + (admin ? ' · admin' : '');
      who.hidden = false;
      if (!admin) banner('This token has no admin.audit_log permission: the tenant-wide panels will answer 403.', 'info');
      else banner('');
      if (c.exp && c.exp * 1000 < Date.now()) banner('This token expired at ' + fmtTime.format(new Date(c.exp * 1000)) + '; the server will refuse it.', 'info');
    } else {
      banner('This does not look like a JWT (three base64url parts separated by dots); trying it anyway.', 'info');
    }
    $('signin').hidden = true;
    $('board').hidden = false;
    $('top-actions').hidden = false;
    refresh();
    runStream();
  }

  function signOut(reason) {
    token = '';
    generation++;
    sessionStorage.removeItem(TOKEN_KEY);
    stopStream();
    clearTimeout(refreshTimer);
    for (const t of retryTimers.values()) clearTimeout(t);
    retryTimers.clear();
    resetBoard();
    $('board').hidden = true;
    $('top-actions').hidden = true;
    $('who').hidden = true;
    $('signin').hidden = false;
    banner(reason || '');
    $('token').focus();
  }

  let refreshing = -1; // the generation whose refresh is under way
  async function refresh() {
    clearTimeout(refreshTimer);
    const gen = generation;
    if (!token || refreshing === gen) return;
    refreshing = gen;
    try {
      await Promise.all([
        panel('logins-chart', loadLogins),
        panel('login-ips', loadFailingIPs),
        panel('lockouts', loadLockouts),
        panel('alerts', loadAlerts),
        panel('usage-result', () => ($('usage-token').value ? loadUsage() : loadTopTokens())),
      ]);
      if (gen === generation) $('updated').textContent = 'Updated ' + fmtHour.format(new Date());
    } finally {
      if (refreshing === gen) refreshing = -1;
      if (token && gen === generation) refreshTimer = setTimeout(refresh, REFRESH_MS);
    }
  }

  document.addEventListener('DOMContentLoaded', () => {
    $('signin-form').addEventListener('submit', (e) => {
      e.preventDefault();
      signIn($('token').value);
    });
    $('signout').addEventListener('click', () => signOut(''));
    $('refresh').addEventListener('click', () => refresh());
    $('usage-form').addEventListener('submit', (e) => {
      e.preventDefault();
      panel('usage-result', loadUsage);
    });
    const saved = sessionStorage.getItem(TOKEN_KEY);
    if (saved) signIn(saved);
    else $('token').focus();
  });
})();
