/* Console behaviour: live updates over WebSocket, forms sent with fetch (CSRF header), ticking wait times,
   referral quick inserts. Every page works without it; this only saves reloads and clicks. */
(function () {
  "use strict";
  var body = document.body;
  var csrf = body.dataset.csrf || "";
  var page = body.dataset.page;
  var me = Number(body.dataset.userId || 0);
  var role = body.dataset.role || "";
  var convId = body.dataset.conversationId || "";
  var serverNow = Date.parse(body.dataset.serverNow || "") || Date.now();
  var skew = Date.now() - serverNow; // client clock minus server clock

  function $(sel, root) { return (root || document).querySelector(sel); }
  function $all(sel, root) { return Array.prototype.slice.call((root || document).querySelectorAll(sel)); }

  function announce(text) {
    var el = $("#announce");
    if (el) { el.textContent = ""; setTimeout(function () { el.textContent = text; }, 50); }
  }

  /* ---- times and waits ---- */
  function localTimes(root) {
    $all("time[datetime]", root).forEach(function (t) {
      var d = new Date(t.getAttribute("datetime"));
      if (isNaN(d)) return;
      var hm = d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
      var sameDay = new Date().toDateString() === d.toDateString();
      t.textContent = sameDay ? hm : d.toLocaleDateString() + " " + hm;
      t.title = d.toLocaleString();
    });
  }
  function fmt(s) {
    s = Math.max(0, Math.floor(s));
    if (s < 60) return s + "s";
    if (s < 3600) return Math.floor(s / 60) + "m " + String(s % 60).padStart(2, "0") + "s";
    return Math.floor(s / 3600) + "h " + String(Math.floor((s % 3600) / 60)).padStart(2, "0") + "m";
  }
  function tickWaits() {
    var now = Date.now() - skew;
    $all(".wait[data-since]").forEach(function (w) {
      var since = Date.parse(w.dataset.since);
      if (!since) return;
      var s = (now - since) / 1000;
      var over = Number(w.dataset.over), long = Number(w.dataset.long);
      var css = s >= over ? "over" : s >= long ? "long" : "ok";
      w.classList.remove("wait-ok", "wait-long", "wait-over");
      w.classList.add("wait-" + css);
      $(".t", w).textContent = fmt(s);
      $(".over-text", w).textContent = css === "over" ? " · over target" : css === "long" ? " · long" : "";
    });
  }
  setInterval(tickWaits, 5000);

  /* ---- fragments ---- */
  var refreshTimers = {};
  function refresh(region, delay) {
    var key = region.id;
    if (refreshTimers[key]) return;
    refreshTimers[key] = setTimeout(function () {
      refreshTimers[key] = null;
      load(region);
    }, delay === undefined ? 250 : delay);
  }
  function load(region) {
    var url = region.dataset.fragment;
    return fetch(url, { headers: { "X-Requested-With": "fetch" }, credentials: "same-origin" }).then(function (r) {
      if (r.status === 401) { location.href = "/console/login?next=" + encodeURIComponent(location.pathname); return; }
      if (r.status === 404 || r.status === 403) {
        region.insertAdjacentHTML("afterbegin",
          '<p class="banner danger" role="alert">This conversation is no longer assigned to you.</p>');
        disableReply("This conversation is no longer assigned to you.");
        return;
      }
      return r.text().then(function (html) { swap(region, html); });
    }).catch(function () { /* offline: the socket reconnect will refresh */ });
  }
  function swap(region, html) {
    var focusedId = document.activeElement && region.contains(document.activeElement) ? document.activeElement.id : null;
    var list = $(".transcript", region);
    var atBottom = !list || window.innerHeight + window.scrollY >= document.body.scrollHeight - 40;
    var before = region.firstElementChild && region.firstElementChild.dataset.waiting;
    region.innerHTML = html;
    localTimes(region);
    tickWaits();
    if (focusedId) { var f = document.getElementById(focusedId); if (f) f.focus(); }
    var after = region.firstElementChild && region.firstElementChild.dataset.waiting;
    if (after !== undefined && after !== before) announce("Queue updated: " + after + " waiting.");
    var wrap = $(".transcript-wrap", region);
    if (wrap) {
      if (wrap.dataset.canReply === "no") disableReply(wrap.dataset.optedOut === "yes"
        ? "The texter opted out (STOP): replies are off." : "Replies are off for this conversation.");
      var last = $(".transcript li:last-child", region);
      if (last && atBottom) last.scrollIntoView({ block: "nearest" });
    }
  }
  function disableReply(reason) {
    var form = $("form[data-action=reply]");
    if (!form) return;
    $all("textarea, button", form).forEach(function (el) { el.disabled = true; });
    var err = $(".form-error", form);
    if (err) err.textContent = reason;
  }

  /* ---- live socket ---- */
  var status = $("#live-status");
  var retry = 1000;
  function setStatus(state, text) {
    if (!status) return;
    status.dataset.state = state;
    status.textContent = text;
  }
  function connect() {
    if (!csrf || page === "login") return;
    var ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/console/ws");
    ws.onopen = function () { ws.send(JSON.stringify({ type: "hello", csrf: csrf })); };
    ws.onmessage = function (e) {
      var ev;
      try { ev = JSON.parse(e.data); } catch (err) { return; }
      if (ev.type === "ready") {
        if (retry > 1000) $all(".live-region").forEach(function (r) { refresh(r, 0); }); // catch up after a drop
        retry = 1000;
        setStatus("on", "Live");
        return;
      }
      handle(ev);
    };
    ws.onclose = function () {
      setStatus("off", "Live updates: reconnecting");
      setTimeout(connect, retry);
      retry = Math.min(retry * 2, 15000);
    };
  }
  function handle(ev) {
    if (ev.type === "alert" && (role === "supervisor" || role === "admin")) showAlert(ev);
    if (page === "queue" || page === "supervisor") {
      $all(".live-region").forEach(function (r) { refresh(r, 1000); }); // at most one re-render a second
    } else if (page === "conversation" && ev.conversation_id === convId) {
      if (ev.type === "transfer" && ev.counselor_id !== me && role === "counselor") {
        disableReply("This conversation was transferred to another counselor.");
      }
      $all(".live-region").forEach(function (r) { refresh(r, 150); });
    }
  }
  var MAX_ALERT_LINES = 3;
  function showAlert(ev) {
    var box = $("#alerts");
    if (!box) return;
    if ($all(".alert-line", box).length >= MAX_ALERT_LINES) { moreAlerts(box); return; }
    var p = document.createElement("p");
    p.className = "alert-line";
    var wait = ev.wait_seconds ? " waiting " + fmt(ev.wait_seconds) : " just joined the queue";
    var strong = document.createElement("strong");
    strong.textContent = "ALERT: " + String(ev.level || "").toUpperCase() + " risk texter";
    var a = document.createElement("a");
    a.href = "/console/c/" + encodeURIComponent(ev.conversation_id);
    a.textContent = ev.conversation_id;
    var span = document.createElement("span");
    span.textContent = wait;
    p.append(strong, " ", a, span, " ", dismissButton(function () { p.remove(); }));
    box.prepend(p);
  }
  function moreAlerts(box) {
    var more = $(".alert-more", box);
    if (!more) {
      more = document.createElement("p");
      more.className = "alert-line alert-more";
      more.dataset.count = "0";
      var link = document.createElement("a");
      link.href = "/console/supervisor";
      more.append(link, " ", dismissButton(function () { box.innerHTML = ""; }, "Dismiss all"));
      box.append(more);
    }
    more.dataset.count = String(Number(more.dataset.count) + 1);
    $("a", more).textContent = "and " + more.dataset.count + " more alert" +
      (more.dataset.count === "1" ? "" : "s") + ": see the supervisor page";
  }
  function dismissButton(onClick, label) {
    var b = document.createElement("button");
    b.type = "button";
    b.className = "quiet";
    b.textContent = label || "Dismiss";
    b.addEventListener("click", onClick);
    return b;
  }

  /* ---- forms over fetch ---- */
  document.addEventListener("submit", function (e) {
    var form = e.target;
    var action = form.dataset && form.dataset.action;
    if (!action) return;
    e.preventDefault();
    var err = $(".form-error", form);
    var submit = $("button[type=submit]", form);
    if (submit && submit.getAttribute("aria-disabled") === "true") {
      if (err) err.textContent = $("#limit-hint") ? $("#limit-hint").textContent : "Not available right now.";
      return;
    }
    if (submit) submit.disabled = true;
    if (err) err.textContent = "";
    fetch(form.action, {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-Requested-With": "fetch", "X-CSRF-Token": csrf,
                 "Content-Type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams(new FormData(form)).toString()
    }).then(function (r) {
      if (r.status === 401) { location.href = "/console/login"; return null; }
      return r.json().then(function (data) { return { status: r.status, data: data }; });
    }).then(function (res) {
      if (submit) submit.disabled = false;
      if (!res) return;
      if (!res.data.ok) { if (err) err.textContent = res.data.error || "That did not work."; return; }
      if (action === "reply") {
        var box = $("#reply-body");
        box.value = "";
        countReply();
        box.focus();
        $all(".live-region").forEach(function (r) { refresh(r, 0); });
        announce("Text sent.");
      } else if (res.data.redirect) {
        location.href = res.data.redirect;
      }
    }).catch(function () {
      if (submit) submit.disabled = false;
      if (err) err.textContent = "No connection. Your text was not sent; try again.";
    });
  });

  /* ---- reply box ---- */
  function countReply() {
    var box = $("#reply-body"), out = $("#reply-count");
    if (!box || !out) return;
    var n = box.value.length;
    var parts = n === 0 ? 0 : n <= 160 ? 1 : Math.ceil(n / 153);
    out.textContent = n + " characters" + (parts ? " · " + parts + " text" + (parts > 1 ? "s" : "") : "");
  }
  document.addEventListener("input", function (e) { if (e.target.id === "reply-body") countReply(); });
  document.addEventListener("keydown", function (e) {
    if (e.target.id === "reply-body" && e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
      e.preventDefault();
      e.target.form.requestSubmit();
    }
  });
  document.addEventListener("click", function (e) {
    var btn = e.target.closest && e.target.closest("button[data-insert]");
    if (!btn) return;
    var box = $("#reply-body");
    if (!box) return;
    var text = btn.dataset.insert;
    var start = box.selectionStart || box.value.length, end = box.selectionEnd || box.value.length;
    var before = box.value.slice(0, start), after = box.value.slice(end);
    var sep = before && !/\s$/.test(before) ? " " : "";
    box.value = before + sep + text + after;
    box.focus();
    box.selectionStart = box.selectionEnd = (before + sep + text).length;
    countReply();
  });

  /* ---- close form: re-predicted from the transcript when opened, unless the counselor already edited it ---- */
  var closeBox = $("#close");
  var reportDirty = false;
  document.addEventListener("change", function (e) { if (closeBox && closeBox.contains(e.target)) reportDirty = true; });
  if (closeBox) {
    closeBox.addEventListener("toggle", function () {
      var holder = $("#report-form");
      if (!closeBox.open || reportDirty || !holder) return;
      fetch(holder.dataset.report, { headers: { "X-Requested-With": "fetch" }, credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.text() : null; })
        .then(function (html) { if (html && !reportDirty) holder.innerHTML = html; })
        .catch(function () { /* keep the form as rendered */ });
    });
  }

  localTimes(document);
  tickWaits();
  var lastMsg = $(".transcript li:last-child");
  if (lastMsg && page === "conversation") lastMsg.scrollIntoView({ block: "nearest" });
  connect();
})();
