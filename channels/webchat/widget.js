/* Continuum web chat widget: one script tag, no build step, no external assets.
 *
 *   <script src="https://api.example.com/webchat/widget.js"
 *           data-continuum-url="https://api.example.com"></script>
 *
 * Opens a chat box, gets a session (POST /webchat/session; the token is kept in localStorage
 * and resumes the same session), connects GET /webchat/ws?token=..., sends typed text, shows
 * replies (and reports them read), and reconnects with backoff.
 */
(function () {
  "use strict";
  var script = document.currentScript;
  var base = ((script && script.getAttribute("data-continuum-url")) ||
              (script ? new URL(script.src).origin : location.origin)).replace(/\/+$/, "");
  var STORE = "continuum-webchat:" + base;
  var socket = null, delay = 500, pending = {}, counter = 0;

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text) { node.textContent = text; }
    return node;
  }

  var box = el("section", {"class": "continuum-webchat", "aria-label": "Chat with us"});
  box.style.cssText = "position:fixed;bottom:1rem;right:1rem;width:20rem;max-width:95vw;" +
    "font:14px/1.4 system-ui,sans-serif;background:#fff;color:#111;border:1px solid #888;" +
    "border-radius:.5rem;box-shadow:0 2px 8px rgba(0,0,0,.2);display:flex;flex-direction:column";
  var heading = el("h2", {"id": "continuum-webchat-title"}, "Chat");
  heading.style.cssText = "margin:0;padding:.5rem .75rem;font-size:1rem;border-bottom:1px solid #ccc";
  var log = el("ol", {"role": "log", "aria-live": "polite", "aria-labelledby": "continuum-webchat-title",
                      "class": "continuum-webchat-log"});
  log.style.cssText = "list-style:none;margin:0;padding:.5rem .75rem;height:16rem;overflow-y:auto";
  var state = el("p", {"role": "status", "class": "continuum-webchat-state"}, "Connecting…");
  state.style.cssText = "margin:0;padding:0 .75rem;font-size:.8rem;color:#555";
  var form = el("form", {"class": "continuum-webchat-form"});
  form.style.cssText = "display:flex;gap:.25rem;padding:.5rem .75rem;border-top:1px solid #ccc";
  var label = el("label", {"for": "continuum-webchat-input"}, "Message");
  label.style.cssText = "position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0)";
  var input = el("input", {"id": "continuum-webchat-input", "type": "text", "autocomplete": "off",
                           "maxlength": "2000"});
  input.style.cssText = "flex:1;padding:.25rem";
  var send = el("button", {"type": "submit"}, "Send");
  form.appendChild(label); form.appendChild(input); form.appendChild(send);
  box.appendChild(heading); box.appendChild(log); box.appendChild(state); box.appendChild(form);

  function show(who, text, cls) {
    var item = el("li", {"class": "continuum-webchat-" + cls});
    item.appendChild(el("span", {"class": "continuum-webchat-who"}, who + ": "));
    item.appendChild(document.createTextNode(text));
    log.appendChild(item);
    log.scrollTop = log.scrollHeight;
    return item;
  }

  function session() {
    var saved = null;
    try { saved = localStorage.getItem(STORE); } catch (e) { saved = null; }
    return fetch(base + "/webchat/session", {
      method: "POST", headers: {"content-type": "application/json"},
      body: JSON.stringify(saved ? {token: saved} : {})
    }).then(function (resp) {
      if ((resp.status === 401 || resp.status === 403) && saved) {  // expired: a new session
        try { localStorage.removeItem(STORE); } catch (e) { /* private mode */ }
        return session();
      }
      if (!resp.ok) { throw new Error("session: HTTP " + resp.status); }
      return resp.json().then(function (body) {
        try { localStorage.setItem(STORE, body.token); } catch (e) { /* private mode */ }
        return body;
      });
    });
  }

  function connect() {
    session().then(function (s) {
      var ws = new WebSocket(base.replace(/^http/, "ws") + "/webchat/ws?token=" +
                             encodeURIComponent(s.token));
      ws.onopen = function () { socket = ws; delay = 500; state.textContent = "Connected"; };
      ws.onmessage = function (event) {
        var frame = JSON.parse(event.data);
        if (frame.type === "message") {
          show("Us", frame.text, "reply");
          ws.send(JSON.stringify({type: "read", id: frame.id}));
        } else if (frame.type === "ack" && pending[frame.id]) {
          pending[frame.id].setAttribute("data-state", "sent");
          delete pending[frame.id];
        } else if (frame.type === "error") {
          state.textContent = "Not sent: " + frame.reason;
        }
      };
      ws.onclose = function (event) {
        socket = null;
        if (event.code === 4401 || event.code === 4403) {
          try { localStorage.removeItem(STORE); } catch (e) { /* private mode */ }
        }
        retry();
      };
    }).catch(retry);
  }

  function retry() {
    state.textContent = "Reconnecting…";
    setTimeout(connect, delay);
    delay = Math.min(delay * 2, 30000);
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var text = input.value.trim();
    if (!text) { return; }
    if (!socket) { state.textContent = "Not connected yet: try again in a moment"; return; }
    var id = "c" + Date.now().toString(36) + "-" + (counter++);
    pending[id] = show("You", text, "mine");
    socket.send(JSON.stringify({type: "message", id: id, text: text}));
    input.value = "";
  });

  function start() { document.body.appendChild(box); connect(); }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
