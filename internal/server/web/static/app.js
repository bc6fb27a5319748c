// gows web chat. Connects to the gows WebSocket endpoint, logs in, keeps the session alive,
// shows who is online and the app's messages, and reconnects with backoff when the socket
// drops. Everything that comes from the server or other users is put into the page with
// textContent, never parsed as HTML, and inside a bidi isolate (dir=auto), so that a name or
// message in a right-to-left script, or holding direction controls, cannot reorder the text
// around it.
//
// Query parameters: user (nickname), appId (or appID), ws (WebSocket URL, for debugging).
// A server that requires login tokens gets one from the fragment, #token=<JWT>: a fragment
// is not sent to the server or a proxy, so it stays out of their access logs. The token's
// sub and appId claims are then the default user and app.
'use strict';

(() => {
  const HEARTBEAT_MS = 30000; // most time between requests (the server's default heartbeat timeout is 6m)
  const USERS_POLL_MS = 10000; // how often the online users are asked for when no notices come
  const BACKOFF_MIN_MS = 1000;
  const BACKOFF_MAX_MS = 30000;
  const MAX_LOG_ENTRIES = 500; // older entries are dropped so a long session stays light
  const DEFAULT_APP_ID = 101;
  // Close codes after which reconnecting as is cannot help (protocol.CloseCode.Terminal):
  // protocol error, unsupported data, invalid payload, message too big, kicked out, auth
  // failed, closed by an operator.
  const TERMINAL_CLOSE_CODES = new Set([1002, 1003, 1007, 1009, 4001, 4004, 4007]);

  const $ = (id) => document.getElementById(id);
  const el = {
    me: $('me'),
    status: $('status'),
    reconnect: $('reconnect'),
    error: $('error'),
    log: $('log'),
    form: $('send-form'),
    input: $('input'),
    send: $('send'),
    users: $('users'),
    userCount: $('user-count'),
  };

  const params = new URLSearchParams(location.search);
  const token = new URLSearchParams(location.hash.slice(1)).get('token') || '';
  const claims = tokenClaims(token);
  const user = (params.get('user') || '').trim() || claims.sub || randomNickname();
  // appID: the seed page's spelling.
  const appID = parseAppID(params.get('appId') ?? params.get('appID') ?? claims.appId ?? claims.appID);
  const cfg = readConfig();
  const wsURL = endpointURL(cfg, params.get('ws'));
  // Enter/exit notices come only in apps of at most presenceLimit users (0: never); the
  // page polls the users of bigger apps, as docs/protocol.md asks.
  const presenceLimit = Number.isInteger(cfg.presenceLimit) ? cfg.presenceLimit : 0;
  // The server closes (4003) a session silent for its heartbeat timeout, which may be set
  // far below the default 6 minutes: the page sends something at least every third of it.
  const heartbeatMs = cfg.heartbeatMs > 0 ? Math.max(1, Math.min(HEARTBEAT_MS, Math.floor(cfg.heartbeatMs / 3))) : HEARTBEAT_MS;
  // The timer ticks at least once per heartbeat period: the longest silence is under two
  // periods, two thirds of the timeout.
  const tickMs = Math.min(USERS_POLL_MS, heartbeatMs);

  let ws = null;
  let loggedIn = false;
  let seqCounter = 0;
  const pending = new Map(); // seq -> cmd of requests awaiting an answer
  const online = new Set();
  let userCount = 0; // the app's online users in the last users answer (the list may be cut)
  let lastSent = 0; // Date.now() of the last request, for the heartbeat
  let lastPolled = 0; // Date.now() of the last users poll
  let heartbeatTimer = 0;
  let retryTimer = 0;
  let attempt = 0; // consecutive failed connections, drives the backoff
  let stopped = false; // no automatic reconnect (kicked out, login refused, terminal close)
  let everOnline = false; // logged in at least once since the page was opened
  let unreachableShown = false; // the "cannot connect" error was shown for this outage

  el.me.replaceChildren('You are ', who(user), ` in app ${appID}`);
  el.form.addEventListener('submit', onSubmit);
  el.reconnect.addEventListener('click', () => { stopped = false; attempt = 0; connect(); });
  window.addEventListener('online', () => { if (retryTimer) { clearTimeout(retryTimer); connect(); } });
  connect();

  function readConfig() {
    try {
      return JSON.parse($('gows-config').textContent) || {};
    } catch (e) {
      return {};
    }
  }

  // endpointURL picks the WebSocket URL: ?ws= (debugging), then the configured public URL,
  // then ws(s)://<page host>:<wsPort><wsPath> (wss when the page is https).
  function endpointURL(cfg, override) {
    for (const candidate of [override, cfg.wsURL]) {
      if (!candidate) continue;
      try {
        const u = new URL(candidate, location.href);
        if (u.protocol === 'ws:' || u.protocol === 'wss:') return u.href;
      } catch (e) { /* fall through to the next candidate */ }
      showError(`ignoring WebSocket URL ${candidate}: want ws:// or wss://`);
    }
    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const port = cfg.wsPort ? String(cfg.wsPort) : location.port;
    const path = cfg.wsPath || '/acc';
    return `${scheme}//${location.hostname}${port ? ':' + port : ''}${path}`;
  }

  // tokenClaims reads the claims of a JWT without verifying it (the server does that), to
  // learn the user and app it was issued for; {} for no token or one it cannot read.
  function tokenClaims(jwt) {
    try {
      const body = jwt.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
      const bytes = Uint8Array.from(atob(body), (c) => c.charCodeAt(0));
      const c = JSON.parse(new TextDecoder().decode(bytes));
      return c && typeof c === 'object' ? c : {};
    } catch (e) {
      return {};
    }
  }

  function parseAppID(raw) {
    if (raw === undefined || raw === null || raw === '') return DEFAULT_APP_ID;
    raw = String(raw);
    if (/^[1-9][0-9]{0,9}$/.test(raw) && Number(raw) <= 0xffffffff) return Number(raw);
    showError(`appId must be a positive integer, got "${raw}"; using ${DEFAULT_APP_ID}`);
    return DEFAULT_APP_ID;
  }

  function randomNickname() {
    const b = new Uint8Array(3);
    crypto.getRandomValues(b);
    return 'guest-' + Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
  }

  function connect() {
    clearTimeout(retryTimer);
    retryTimer = 0;
    el.reconnect.hidden = true;
    setStatus('connecting', `connecting to ${wsURL}…`);
    let sock;
    try {
      sock = new WebSocket(wsURL);
    } catch (e) {
      showError(`cannot connect to ${wsURL}: ${e.message}`);
      stop('offline');
      return;
    }
    ws = sock;
    let opened = false;
    sock.onopen = () => {
      if (ws !== sock) return;
      opened = true;
      const login = { userId: user, appId: appID };
      if (token) login.serviceToken = token;
      request('login', login);
    };
    sock.onmessage = (ev) => { if (ws === sock) onFrame(ev.data); };
    sock.onclose = (ev) => { if (ws === sock) onClose(ev, opened); };
  }

  function request(cmd, data) {
    if (!ws || ws.readyState !== WebSocket.OPEN) return false;
    const seq = `${Date.now()}-${++seqCounter}`;
    pending.set(seq, cmd);
    ws.send(JSON.stringify({ seq, cmd, data }));
    lastSent = Date.now();
    return true;
  }

  function onFrame(text) {
    let m;
    try {
      m = JSON.parse(text);
    } catch (e) {
      showError('the server sent a frame that is not JSON');
      return;
    }
    const res = (m && m.response) || {};
    const data = res.data || {};
    switch (m.cmd) {
      case 'msg': addMessage(data); return;
      case 'enter': userEntered(data.from); return;
      case 'exit': userLeft(data.from); return;
      case 'kickout':
        addNotice('error', 'Disconnected by the server: ', who(data.msg || 'logged in elsewhere'));
        stopped = true;
        return;
    }
    const cmd = pending.get(m.seq) || m.cmd;
    pending.delete(m.seq);
    if (res.code !== 200) {
      const failed = `${cmd} failed: ${res.codeMsg || 'error'} (code ${res.code})`;
      showError(cmd === 'login' ? `${failed}. ${loginHint(res.code)}` : failed);
      if (cmd === 'login') {
        stopped = true; // the same login would be refused again
        ws.close(1000, 'login refused');
      }
      return;
    }
    switch (cmd) {
      case 'login': onLogin(); break;
      case 'send': clearError(); break;
      case 'users': setUsers(Array.isArray(data.userList) ? data.userList : [], data.userCount); break;
    }
  }

  // loginHint tells the user what to change after the server refused the login.
  function loginHint(code) {
    switch (code) {
      case 1001: // parameter illegal: the page sends only the user and app, so the app
        return 'Open the page with ?appId=N for an app this server allows.';
      case 1002: // unauthorized user id: not 1..64 printable characters
        return 'Pick another name: open the page with ?user=NAME (1 to 64 characters).';
      case 1003: // unauthorized: the server requires a login token, or refused this one
        return token
          ? 'The server refused the login token in the address (#token=): get a new one for this user and app.'
          : 'This server requires a login token: open the page with #token=JWT at the end of the ' +
            'address (a token whose sub is your user id, e.g. from `gows token --user NAME`).';
      case 1009: // operation failure: e.g. the user is logged in elsewhere (duplicate_login: reject)
        return 'Close the other session or pick another name with ?user=NAME.';
    }
    return 'Reload the page to try again.';
  }

  function onLogin() {
    loggedIn = true;
    everOnline = true;
    unreachableShown = false;
    attempt = 0;
    clearError();
    setStatus('online', 'online');
    addNotice('info', 'Connected as ', who(user));
    el.input.disabled = false;
    el.send.disabled = false;
    el.input.focus();
    request('users', {});
    lastPolled = Date.now();
    clearInterval(heartbeatTimer);
    // Any request keeps the session alive: a users poll stands in for the heartbeat. A poll
    // is due after USERS_POLL_MS, give or take half a tick (timers fire a little late).
    heartbeatTimer = setInterval(() => {
      const now = Date.now();
      if (pollUsers() && now - lastPolled >= USERS_POLL_MS - tickMs / 2) {
        request('users', {});
        lastPolled = now;
      } else if (now - lastSent >= heartbeatMs) {
        request('heartbeat', { userId: user });
      }
    }, tickMs);
  }

  // pollUsers reports whether the server may not send enter/exit notices to this app: they
  // are off, or the app has (or may have grown past) presenceLimit users.
  function pollUsers() {
    return presenceLimit <= 0 || Math.max(online.size, userCount) >= presenceLimit;
  }

  // onClose handles the end of a socket; opened says whether its handshake succeeded.
  function onClose(ev, opened) {
    ws = null;
    pending.clear();
    clearInterval(heartbeatTimer);
    el.input.disabled = true;
    el.send.disabled = true;
    if (loggedIn) addNotice('info', `Disconnected (${ev.code}${ev.reason ? ': ' + ev.reason : ''})`);
    loggedIn = false;
    setUsers([]);
    if (stopped || TERMINAL_CLOSE_CODES.has(ev.code)) {
      stop('offline', ev.code);
      return;
    }
    // A browser does not tell a page why a handshake failed: a server that is down and one
    // that refused the page's Origin (HTTP 403) both look like close 1006 before open.
    if (!opened && !unreachableShown) {
      unreachableShown = true;
      showError(`Cannot connect to ${wsURL}: the server is not running or not reachable` +
        (everOnline ? '' : `, or it does not accept pages from ${location.origin} (its allowed_origins setting)`) +
        '. Retrying.');
    }
    // Exponential backoff with jitter, so a restarted server is not hit by every page at once.
    const base = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** attempt);
    const delay = Math.round(base / 2 + Math.random() * base / 2);
    attempt++;
    setStatus('offline', `offline, reconnecting in ${Math.ceil(delay / 1000)}s`);
    el.reconnect.hidden = false;
    retryTimer = setTimeout(connect, delay);
  }

  function stop(state, code) {
    stopped = true;
    setStatus(state, code ? `disconnected (${code})` : 'disconnected');
    el.reconnect.hidden = false;
  }

  function onSubmit(ev) {
    ev.preventDefault();
    const msg = el.input.value.trim();
    if (!msg) return;
    // Not rendered here: the server echoes app-wide messages to the sender too.
    if (request('send', { type: 'text', msg })) el.input.value = '';
  }

  function addMessage(data) {
    const from = String(data.from || '');
    const li = document.createElement('li');
    li.className = from === user ? 'msg own' : 'msg';
    li.dataset.testid = 'message';
    li.dataset.from = from;
    li.dataset.own = String(from === user);
    // The spaces keep the parts apart for screen readers and copied text.
    li.append(timeElement(), ' ');
    if (data.target) li.append(span('target', '#', who(data.target)), ' ');
    const name = span('from', who(from));
    if (from === user) name.append(' (you)');
    const body = span('text', String(data.msg ?? ''));
    body.dir = 'auto';
    li.append(name, ' ', body);
    appendLog(li);
  }

  // addNotice logs a line of the page's own; parts are strings (the page's words) and
  // elements (user-supplied text, isolated with who()).
  function addNotice(kind, ...parts) {
    const li = document.createElement('li');
    li.className = `notice ${kind}`;
    li.dataset.testid = 'notice';
    li.dataset.kind = kind;
    li.append(timeElement(), ' ', span('text', ...parts));
    appendLog(li);
  }

  function appendLog(li) {
    const atBottom = el.log.scrollHeight - el.log.scrollTop - el.log.clientHeight < 40;
    el.log.append(li);
    while (el.log.childElementCount > MAX_LOG_ENTRIES) el.log.firstElementChild.remove();
    if (atBottom) el.log.scrollTop = el.log.scrollHeight;
  }

  function userEntered(id) {
    if (!id) return;
    if (id !== user) addNotice('enter', who(id), ' joined');
    online.add(id);
    renderUsers();
  }

  function userLeft(id) {
    if (!id) return;
    if (id !== user) addNotice('exit', who(id), ' left');
    online.delete(id);
    renderUsers();
  }

  function setUsers(list, count) {
    online.clear();
    for (const id of list) online.add(String(id));
    if (loggedIn) online.add(user);
    userCount = Number.isInteger(count) ? count : online.size;
    renderUsers();
  }

  function renderUsers() {
    const items = [...online].sort().map((id) => {
      const li = document.createElement('li');
      li.dataset.testid = 'user';
      li.dataset.user = id;
      li.append(who(id));
      if (id === user) {
        li.append(' (you)');
        li.className = 'self';
      }
      return li;
    });
    el.users.replaceChildren(...items);
    // Without notices the last answer's count is the best known; it may exceed the list.
    el.userCount.textContent = String(pollUsers() ? Math.max(userCount, online.size) : online.size);
  }

  function setStatus(state, text) {
    el.status.dataset.state = state;
    el.status.textContent = text;
  }

  function showError(text) {
    el.error.textContent = text;
    el.error.hidden = false;
    addNotice('error', text);
  }

  function clearError() {
    el.error.textContent = '';
    el.error.hidden = true;
  }

  function timeElement() {
    const now = new Date();
    const t = document.createElement('time');
    t.dateTime = now.toISOString();
    t.textContent = now.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' });
    return t;
  }

  // span returns <span class=className> holding parts (strings are added as text).
  function span(className, ...parts) {
    const s = document.createElement('span');
    s.className = className;
    s.append(...parts);
    return s;
  }

  // who returns a user id, room or other text from elsewhere as isolated text: <bdi> takes
  // its direction from its own content and does not reorder what is around it.
  function who(name) {
    const b = document.createElement('bdi');
    b.textContent = String(name);
    return b;
  }
})();
