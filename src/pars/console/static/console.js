// PARS console: live activity polling, in-browser inclusion-proof and approval-signature checks.
// Same-origin, no dependencies. Rule: data is put in the page with textContent only.
"use strict";

(function () {
  function hex(bytes) {
    return Array.from(new Uint8Array(bytes), function (b) { return b.toString(16).padStart(2, "0"); }).join("");
  }
  function unhex(text) {
    var out = new Uint8Array(text.length / 2);
    for (var i = 0; i < out.length; i++) out[i] = parseInt(text.substr(i * 2, 2), 16);
    return out;
  }
  function unbase64(text) {
    var raw = atob(text);
    var out = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i);
    return out;
  }
  function concat(parts) {
    var n = parts.reduce(function (a, p) { return a + p.length; }, 0);
    var out = new Uint8Array(n), at = 0;
    parts.forEach(function (p) { out.set(p, at); at += p.length; });
    return out;
  }
  async function sha256(bytes) {
    return new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  }
  function leafHash(entry) { return sha256(concat([new Uint8Array([0]), entry])); }
  function nodeHash(left, right) { return sha256(concat([new Uint8Array([1]), left, right])); }

  // RFC 9162 section 2.1.3.2: the root an inclusion proof leads to, or null if the proof is malformed.
  async function rootFromProof(leaf, index, size, proof) {
    if (index >= size) return null;
    var fn = index, sn = size - 1, r = leaf;
    for (var i = 0; i < proof.length; i++) {
      var p = proof[i];
      if (sn === 0) return null;
      if (fn % 2 === 1 || fn === sn) {
        r = await nodeHash(p, r);
        if (fn % 2 === 0) {
          while (fn % 2 === 0 && fn !== 0) { fn = Math.floor(fn / 2); sn = Math.floor(sn / 2); }
        }
      } else {
        r = await nodeHash(r, p);
      }
      fn = Math.floor(fn / 2); sn = Math.floor(sn / 2);
    }
    return sn === 0 ? r : null;
  }

  // The root a C2SP checkpoint commits to: its third line, base64.
  function checkpointRoot(note) {
    var lines = note.split("\n");
    return lines.length > 2 ? hex(unbase64(lines[2])) : "";
  }

  // C2SP signed note: true/false for an Ed25519 signature by the verifier key, null if this browser
  // cannot check Ed25519 (WebCrypto without it).
  async function checkSignature(note, verifierKey) {
    // name+keyid+base64(0x01 || key): the base64 may itself hold "+", so split at the first two only.
    var text0 = verifierKey.trim(), a = text0.indexOf("+"), b = text0.indexOf("+", a + 1);
    if (a < 1 || b < 0) return false;
    var name = text0.slice(0, a), keyId = text0.slice(a + 1, b).toLowerCase(), keyBytes = unbase64(text0.slice(b + 1));
    if (keyBytes.length !== 33 || keyBytes[0] !== 1) return false;
    var split = note.lastIndexOf("\n\n");
    if (split < 0 || !note.endsWith("\n")) return false;
    var text = new TextEncoder().encode(note.slice(0, split + 1));
    var key;
    try {
      key = await crypto.subtle.importKey("raw", keyBytes.slice(1), { name: "Ed25519" }, false, ["verify"]);
    } catch (err) {
      return null;
    }
    var prefix = "\u2014 " + name + " ";
    var lines = note.slice(split + 2, -1).split("\n");
    for (var i = 0; i < lines.length; i++) {
      if (!lines[i].startsWith(prefix)) continue;
      var sig = unbase64(lines[i].slice(prefix.length));
      if (sig.length !== 68 || hex(sig.slice(0, 4)) !== keyId) continue;
      return await crypto.subtle.verify({ name: "Ed25519" }, key, sig.slice(4), text);
    }
    return false;
  }

  async function checkProof(section) {
    var verdict = document.getElementById("verdict");
    function show(ok, text) {
      verdict.textContent = text;
      verdict.className = "verdict " + (ok ? "ok" : "bad");
      verdict.dataset.result = ok ? "verified" : "failed";
    }
    try {
      var res = await fetch(section.dataset.source, { credentials: "same-origin", headers: { Accept: "application/json" } });
      if (!res.ok) throw new Error("the server answered " + res.status);
      var d = await res.json();
      var leaf = await leafHash(unbase64(d.entry_b64));
      document.getElementById("leaf-computed").textContent = hex(leaf);
      var root = await rootFromProof(leaf, d.index, d.size, d.proof_hex.map(unhex));
      document.getElementById("root-computed").textContent = root ? hex(root) : "(the proof is malformed)";
      var expected = checkpointRoot(d.checkpoint);
      var signed = await checkSignature(d.checkpoint, d.verifier_key);
      document.getElementById("signature").textContent = signed === null
        ? "not checked: this browser's WebCrypto has no Ed25519 (run pars audit verify)"
        : signed ? "valid (Ed25519, by the verifier key below)" : "INVALID";
      if (hex(leaf) !== d.leaf_hash_hex) {
        show(false, "FAILED: the entry's bytes do not hash to the stored leaf hash.");
      } else if (!root || hex(root) !== expected) {
        show(false, "FAILED: the proof does not lead to the checkpoint's root.");
      } else if (signed === false) {
        show(false, "FAILED: the checkpoint's signature does not verify with the log's key.");
      } else {
        show(true, "verified: entry " + d.index + " is in the log of " + d.size +
          " entries whose root the checkpoint signs.");
      }
    } catch (err) {
      show(false, "FAILED: could not check (" + err.message + ").");
    }
  }

  function cell(row, text) {
    var td = document.createElement("td");
    td.textContent = text === null || text === undefined ? "" : String(text);
    row.appendChild(td);
    return td;
  }

  function startLive(table) {
    var select = document.getElementById("live-agreement");
    var state = document.getElementById("live-state");
    var pause = document.getElementById("live-pause");
    var body = table.tBodies[0];
    var shown = null;  // the indices on screen: rows are replaced only when they change (focus stays put)
    var paused = false;
    async function refresh() {
      if (paused) { window.setTimeout(refresh, 2000); return; }
      var url = table.dataset.source;
      if (select.value) url += "?agreement=" + encodeURIComponent(select.value);
      try {
        var res = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
        if (res.status === 401) { state.textContent = "Signed out: sign in again."; return; }
        if (!res.ok) throw new Error("status " + res.status);
        var d = await res.json();
        var key = (select.value || "*") + ":" + d.entries.map(function (e) { return e.index; }).join(",");
        if (key !== shown) {
          var rows = document.createDocumentFragment();
          d.entries.forEach(function (e) {
            var tr = document.createElement("tr");
            tr.className = "decision-" + e.decision;
            var a = document.createElement("a");
            a.href = "/console/audit/entries/" + e.index;
            a.textContent = String(e.index);
            cell(tr, "").appendChild(a);
            cell(tr, e.time).className = "time";
            [e.agency, e.user, e.action, e.decision, e.rule, e.status].forEach(function (v) { cell(tr, v); });
            rows.appendChild(tr);
          });
          body.replaceChildren(rows);
          var newest = d.entries.length ? " Newest: entry " + d.entries[0].index + "." : "";
          state.textContent = d.entries.length + " entries shown." + newest;
          shown = key;
        }
      } catch (err) {
        state.textContent = "Could not refresh (" + err.message + "); retrying.";
      }
      window.setTimeout(refresh, 2000);
    }
    select.addEventListener("change", function () { shown = null; });
    pause.hidden = false;
    pause.addEventListener("click", function () {
      paused = !paused;
      pause.setAttribute("aria-pressed", paused ? "true" : "false");
      pause.textContent = paused ? "Resume updates" : "Pause updates";
    });
    refresh();
  }

  // A party's approval (CONTRACT 9.1): the note's text must be exactly the five lines for this
  // log, agreement, version and party, and its signature must verify with the party's key.
  async function checkApproval(item) {
    var out = item.querySelector(".sig-check");
    function show(result, text) {
      out.textContent = "signature: " + text;
      out.className = "sig-check verdict " + (result === "valid" ? "ok" : "bad");
      item.dataset.result = result;
    }
    var note = item.querySelector(".approval-note").textContent;
    var key = item.querySelector(".approval-key").textContent;
    var d = item.dataset;
    var expected = "pars-approval/v1\n" + d.origin + "\n" + d.agreement + "\n" + d.version + "\n" + d.party + "\n";
    var split = note.lastIndexOf("\n\n");
    if (!note || split < 0) { show("invalid", "MISSING: no signed note"); return; }
    if (note.slice(0, split + 1) !== expected) {
      show("invalid", "INVALID: the note does not approve this log, agreement, version and party");
      return;
    }
    if (key.split("+")[0] !== d.party) { show("invalid", "INVALID: the key is not named " + d.party); return; }
    var lines = note.slice(split + 2, -1).split("\n");
    if (lines.length !== 1) { show("invalid", "INVALID: an approval carries exactly one signature"); return; }
    var signed;
    try {
      signed = await checkSignature(note, key);
    } catch (err) {
      signed = false;
    }
    if (signed === null) {
      show("unchecked", "not checked: this browser's WebCrypto has no Ed25519");
    } else if (signed) {
      show("valid", "valid (Ed25519, key " + key.split("+")[1] + " registered for " + d.party + ")");
    } else {
      show("invalid", "INVALID: does not verify with the key registered for " + d.party);
    }
  }

  // For the browser tests: the pure checks, callable from the page.
  window.parsConsole = {
    checkSignature: checkSignature, rootFromProof: rootFromProof, leafHash: leafHash, checkApproval: checkApproval
  };

  document.addEventListener("DOMContentLoaded", function () {
    var section = document.getElementById("proof-check");
    if (section) checkProof(section);
    var live = document.getElementById("live");
    if (live) startLive(live);
    document.querySelectorAll("li.approval").forEach(function (item) { checkApproval(item); });
  });
})();
