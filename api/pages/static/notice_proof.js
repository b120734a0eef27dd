// A notice's proof checked in the browser, check for check as domain/notice_proof.py checks it on a
// computer: WebCrypto's SHA-256 for the RFC 9162 tree, its Ed25519 for the head's signature. Nothing is
// asked of the server but the proof, the public key and (for two saved heads) a consistency proof.
"use strict";

const MinqingProof = (() => {
  const encoder = new TextEncoder();
  const hex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  const unhex = (text) => {
    if (typeof text !== "string" || !/^([0-9a-fA-F]{2})*$/.test(text)) throw new Error("not hex: " + text);
    return Uint8Array.from(text.match(/../g) || [], (pair) => parseInt(pair, 16));
  };
  const joined = (parts) => {
    const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const part of parts) { out.set(part, at); at += part.length; }
    return out;
  };
  const sha256 = async (...parts) => new Uint8Array(await crypto.subtle.digest("SHA-256", joined(parts)));
  const leafHash = (bytes) => sha256(Uint8Array.of(0), bytes);
  const nodeHash = (left, right) => sha256(Uint8Array.of(1), left, right);
  const same = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);

  // RFC 9162, 2.1.3.2: a leaf's inclusion path up to the root of a tree of `size` leaves.
  async function verifyInclusion(index, size, leaf, path, root) {
    if (!(index >= 0 && index < size)) return false;
    let fn = index, sn = size - 1, r = leaf;
    for (const p of path) {
      if (sn === 0) return false;
      if (fn % 2 === 1 || fn === sn) {
        r = await nodeHash(p, r);
        while (fn % 2 === 0 && fn !== 0) { fn = Math.floor(fn / 2); sn = Math.floor(sn / 2); }
      } else {
        r = await nodeHash(r, p);
      }
      fn = Math.floor(fn / 2); sn = Math.floor(sn / 2);
    }
    return sn === 0 && same(r, root);
  }

  // RFC 9162, 2.1.4.2: the tree of `first` leaves is a prefix of the tree of `second` leaves.
  async function verifyConsistency(first, second, firstRoot, secondRoot, proof) {
    if (!(first >= 0 && first <= second)) return false;
    if (first === 0) return proof.length === 0;
    if (first === second) return proof.length === 0 && same(firstRoot, secondRoot);
    if (proof.length === 0) return false;
    const path = (first & (first - 1)) === 0 ? [firstRoot, ...proof] : [...proof];
    let fn = first - 1, sn = second - 1;
    while (fn % 2 === 1) { fn = Math.floor(fn / 2); sn = Math.floor(sn / 2); }
    let fr = path[0], sr = path[0];
    for (const c of path.slice(1)) {
      if (sn === 0) return false;
      if (fn % 2 === 1 || fn === sn) {
        fr = await nodeHash(c, fr); sr = await nodeHash(c, sr);
        while (fn % 2 === 0 && fn !== 0) { fn = Math.floor(fn / 2); sn = Math.floor(sn / 2); }
      } else {
        sr = await nodeHash(sr, c);
      }
      fn = Math.floor(fn / 2); sn = Math.floor(sn / 2);
    }
    return same(fr, firstRoot) && same(sr, secondRoot) && sn === 0;
  }

  const keyId = async (raw) => hex(await sha256(raw));

  // What is signed: the canonical JSON of the head's size, root and time (sorted keys, no spaces).
  const headMessage = (head) => encoder.encode(JSON.stringify(
    {root_hash: head.root_hash, signed_at: head.signed_at, tree_size: head.tree_size}));

  async function signedBy(head, raw) {
    if (head.key_id !== await keyId(raw)) return false;
    const key = await crypto.subtle.importKey("raw", raw, {name: "Ed25519"}, false, ["verify"]);
    return crypto.subtle.verify({name: "Ed25519"}, key, unhex(head.signature), headMessage(head));
  }

  const check = (name, ok, problem = null, params = {}) => ({name, ok, problem, params});

  // `pinnedHex`: the log's key, or a list of its keys (current and retired): the one the head names is used.
  async function verifyNotice(proof, pinnedHex = null) {
    if (!proof || proof.format !== "minqing-notice-proof/1") throw new Error("not a notice proof");
    const caseId = String(proof.case_id), notice = proof.notice, head = proof.head;
    const carried = unhex(proof.public_key.public_key);
    const trusted = pinnedHex === null ? [carried] : [].concat(pinnedHex).map(unhex);
    if (!trusted.length || trusted.some((k) => k.length !== 32)) throw new Error("not an Ed25519 public key");
    const ids = await Promise.all(trusted.map(keyId));
    const at = Math.max(0, ids.indexOf(head.key_id));
    const raw = trusted[at];
    const report = {keyId: ids[at], head, checks: [], timeline: [],
                    retiredAt: same(carried, raw) ? proof.public_key.retired_at ?? null : null};
    const checks = report.checks;

    if (!same(carried, raw)) checks.push(check("key", false, "other-key"));
    else if (head.key_id !== report.keyId) checks.push(check("key", false, "wrong-key", {key_id: head.key_id}));
    else checks.push(check("key", true));
    const signed = await signedBy(head, raw);
    checks.push(signed ? check("signature", true) : check("signature", false, "bad-signature"));

    const root = unhex(head.root_hash), verified = [], failed = [];
    for (const leaf of proof.leaves) {
      const content = String(leaf.content);
      const path = leaf.path.map(unhex);
      const parsed = JSON.parse(content);
      const included = signed && await verifyInclusion(
        Number(leaf.leaf_index), head.tree_size, await leafHash(encoder.encode(content)), path, root);
      if (included && parsed.aggregate === caseId && parsed.version === leaf.version) verified.push(parsed);
      else failed.push(Number(leaf.version));
    }
    if (failed.length) checks.push(check("leaves", false, "not-proved", {versions: failed.join(", ")}));
    else checks.push(verified.length ? check("leaves", true) : check("leaves", false, "empty"));

    const versions = verified.map((p) => Number(p.version)).sort((a, b) => a - b);
    const complete = !failed.length && versions.every((v, i) => v === i + 1);
    checks.push(complete ? check("complete", true) : check("complete", false, "missing"));

    const posted = verified.filter((p) => p.version === notice.version && p.public
      && p.public.what === "Publicized" && p.public.details.notice_id === notice.notice_id);
    const shown = posted.length > 0 && posted[0].public.details.text === notice.text;
    checks.push(shown ? check("notice", true) : check("notice", false, "notice-absent"));

    report.timeline = [...verified].sort((a, b) => a.version - b.version).filter((p) => p.public !== null)
      .map((p) => ({version: p.version, ...p.public}));
    return report;
  }

  // `rawKeys`: the log's keys, current and retired; each head is checked by the one it names.
  async function verifyHeads(older, newer, proofHex, rawKeys) {
    const checks = [];
    for (const [name, head] of [["older", older], ["newer", newer]]) {
      let signed = false;
      for (const raw of rawKeys) signed = signed || await signedBy(head, raw);
      checks.push(signed ? check(name, true) : check(name, false, "bad-signature"));
    }
    const grew = await verifyConsistency(older.tree_size, newer.tree_size, unhex(older.root_hash),
                                         unhex(newer.root_hash), proofHex.map(unhex));
    checks.push(grew ? check("consistent", true) : check("consistent", false, "not-grown"));
    return checks;
  }

  return {verifyNotice, verifyHeads, verifyInclusion, verifyConsistency, keyId, unhex};
})();

// ---------------------------------------------------------------- the verify page
(() => {
  const page = document.getElementById("notice-proof");
  if (!page) return;
  const texts = JSON.parse(document.getElementById("proof-texts").textContent);
  const element = (tag, text, className) => {
    const made = document.createElement(tag);
    if (text !== undefined) made.textContent = text;
    if (className) made.className = className;
    return made;
  };
  const fill = (template, params) => template.replace(/\{(\w+)\}/g, (all, name) => params[name] ?? all);
  const said = (c) => {
    const title = texts.checks[c.name];
    return c.ok || !c.problem ? title : `${title}: ${fill(texts.problems[c.problem], c.params)}`;
  };
  const show = (list, checks) => {
    list.replaceChildren(...checks.map((c) => {
      const item = element("li", `${c.ok ? "✓" : "✗"} ${said(c)}`, c.ok ? "check-ok" : "check-failed");
      item.dataset.check = c.name;
      item.dataset.ok = String(c.ok);
      return item;
    }));
  };
  const status = document.getElementById("proof-status");
  const say = (text, failed) => { status.textContent = text; status.className = failed ? "check-failed" : "check-ok"; };
  const fetched = async (url) => {
    const answer = await fetch(url, {headers: {Accept: "application/json"}});
    const body = await answer.json();
    if (!answer.ok) throw new Error(body.detail || answer.statusText);
    return body;
  };
  const keysOf = (key) => [key.public_key, ...(key.retired || []).map((r) => r.public_key)];
  const download = (link, name, value) => {
    link.href = URL.createObjectURL(new Blob([JSON.stringify(value, null, 2) + "\n"], {type: "application/json"}));
    link.download = name;
    link.hidden = false;
  };

  async function checkNotice() {
    if (!window.crypto || !crypto.subtle) { say(texts.insecure, true); return; }
    let proof, key;
    try {
      [proof, key] = await Promise.all([fetched(page.dataset.proof), fetched(page.dataset.key)]);
    } catch (error) { say(`${texts.unavailable} ${error.message}`, true); return; }
    const head = proof.head;
    document.getElementById("head").textContent = fill(texts.head, {size: head.tree_size,
      root: head.root_hash, at: moment(head.signed_at)});
    download(document.getElementById("download-proof"), `notice-proof-${head.tree_size}.json`, proof);
    download(document.getElementById("download-head"), `head-${head.tree_size}.json`, head);
    let report;
    try { report = await MinqingProof.verifyNotice(proof, keysOf(key)); }
    catch (error) { say(`${texts.unreadable} ${error.message}`, true); return; }
    document.getElementById("key-id").textContent = report.keyId;
    const retired = document.getElementById("key-retired");
    retired.hidden = report.retiredAt === null;
    if (report.retiredAt !== null) retired.textContent = fill(texts.retired, {at: moment(report.retiredAt)});
    show(document.getElementById("checks"), report.checks);
    const ok = report.checks.every((c) => c.ok);
    say(ok ? texts.proved : texts.failed, !ok);
    document.getElementById("timeline").replaceChildren(...report.timeline.map((step) => {
      const item = element("li");
      const time = element("time", moment(step.occurred_at));
      time.dateTime = step.occurred_at;
      item.append(time, " ", element("span", sentence(step), "text"));
      return item;
    }));
  }

  // A proved public fact in words: its name, then its details in a fixed order, each in the page's words.
  const moment = (iso) => new Intl.DateTimeFormat(texts.locale,
    {timeZone: texts.zone, dateStyle: "medium", timeStyle: "short"}).format(new Date(iso));
  function sentence(step) {
    const parts = [texts.whats[step.what] || step.what];
    for (const key of texts.order) {
      const value = step.details[key];
      if (value === undefined || value === null || value === "") continue;
      const words = texts.words[`${key}:${step.what}`] || texts.words[key];
      if (key === "round") parts.push(fill(texts.round, {round: value}));
      else if (key === "percent") parts.push(`${value}%`);
      else if (key === "ends_at") parts.push(fill(texts.until, {ends: moment(value)}));
      else parts.push(words ? (words[value] ?? String(value)) : String(value));
    }
    return parts.join(" · ");
  }

  document.getElementById("heads-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = event.target, out = document.getElementById("heads-checks");
    const result = document.getElementById("heads-status");
    try {
      const heads = ["older", "newer"].map((name) => {
        const found = JSON.parse(form.elements[name].value);
        return found.head || found;
      }).sort((a, b) => a.tree_size - b.tree_size);
      const key = await fetched(page.dataset.key);
      const proof = await fetched(`${page.dataset.consistency}?first=${heads[0].tree_size}&second=${heads[1].tree_size}`);
      const checks = await MinqingProof.verifyHeads(heads[0], heads[1], proof.proof,
                                                    keysOf(key).map(MinqingProof.unhex));
      show(out, checks);
      const ok = checks.every((c) => c.ok);
      result.textContent = ok ? fill(texts.grew, {first: heads[0].tree_size, second: heads[1].tree_size})
                              : texts.notGrown;
      result.className = ok ? "check-ok" : "check-failed";
    } catch (error) {
      out.replaceChildren();
      result.textContent = `${texts.unreadable} ${error.message}`;
      result.className = "check-failed";
    }
  });
  if (page.dataset.proof) checkNotice();  // a notice not yet sealed has no proof to check yet
})();
