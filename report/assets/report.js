// Trajectory viewer of report.html. Model text only ever reaches the page through
// textContent (never innerHTML), so a turn containing markup is shown, not run.
(function () {
  "use strict";
  window.__reportErrors = [];
  window.addEventListener("error", function (e) { window.__reportErrors.push(String(e.message)); });

  var data = JSON.parse(document.getElementById("report-data").textContent);
  var entries = data.entries;
  var $ = function (id) { return document.getElementById(id); };
  var state = { visible: [], current: -1, step: 0 };

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function addOptions(select, values) {
    values.forEach(function (v) {
      var o = el("option", "", v);
      o.value = v;
      select.appendChild(o);
    });
  }

  function groupTotal(e) {
    for (var i = 0; i < data.groups.length; i++) {
      var g = data.groups[i];
      if (g.subset === e.subset && g.status === e.status && g.reason === e.reason) return g;
    }
    return null;
  }

  function applyFilters() {
    var subset = $("f-subset").value, status = $("f-status").value, reason = $("f-reason").value;
    var keepId = state.current >= 0 ? entries[state.current].id : null;
    state.visible = [];
    entries.forEach(function (e, i) {
      if (subset && e.subset !== subset) return;
      if (status && e.status !== status) return;
      if (reason && e.reason !== reason) return;
      state.visible.push(i);
    });
    var list = $("traj-list");
    list.textContent = "";
    state.visible.forEach(function (i) {
      var e = entries[i];
      var li = el("li");
      li.dataset.index = String(i);
      li.appendChild(el("span", "id", e.id));
      li.appendChild(el("span", "badge " + e.status, e.status === "kept" ? "kept" : e.reason));
      li.appendChild(el("div", "note", e.subset + " · " + e.steps.length + " turns"));
      li.addEventListener("click", function () { select(i); });
      list.appendChild(li);
    });
    var shown = 0, total = 0;
    data.groups.forEach(function (g) {
      if (subset && g.subset !== subset) return;
      if (status && g.status !== status) return;
      if (reason && g.reason !== reason) return;
      shown += g.shown; total += g.total;
    });
    $("f-count").textContent = shown + " shown of " + total + " matching";
    var keep = state.visible.filter(function (i) { return entries[i].id === keepId; });
    if (keep.length) select(keep[0]);
    else if (state.visible.length) select(state.visible[0]);
    else { state.current = -1; render(); }
  }

  function select(i) {
    state.current = i;
    state.step = 0;
    Array.prototype.forEach.call($("traj-list").children, function (li) {
      var on = Number(li.dataset.index) === i;
      li.classList.toggle("selected", on);
      if (on && li.scrollIntoView) li.scrollIntoView({ block: "nearest" });
    });
    render();
  }

  function field(parent, label, text, cls) {
    if (text === undefined || text === null || text === "") return;
    var box = el("div", "field" + (cls ? " " + cls : ""));
    box.appendChild(el("div", "label", label));
    box.appendChild(el("pre", "", text));
    parent.appendChild(box);
  }

  function details(parent, label, text) {
    if (!text) return;
    var d = el("details");
    d.appendChild(el("summary", "", label));
    d.appendChild(el("pre", "", text));
    parent.appendChild(d);
  }

  function figure(img, caption, stale) {
    var fig = el("figure");
    var a = el("a");
    a.href = img.src;
    a.target = "_blank";
    var im = el("img", stale ? "stale" : "");
    im.src = img.src;
    im.alt = "image " + img.index;
    a.appendChild(im);
    fig.appendChild(a);
    fig.appendChild(el("figcaption", "", caption));
    return fig;
  }

  function size(img) { return img.w ? " (" + img.w + "×" + img.h + ")" : ""; }

  // The newest image shown before step k (for turns that rendered nothing).
  function lastImage(e, k) {
    for (var s = k - 1; s >= 1; s--) {
      var imgs = e.steps[s - 1].images;
      if (imgs.length) return imgs[imgs.length - 1];
    }
    return e.inputs.length ? e.inputs[e.inputs.length - 1] : null;
  }

  function render() {
    var images = $("step-images"), text = $("step-text");
    images.textContent = "";
    text.textContent = "";
    if (state.current < 0) {
      $("traj-title").textContent = "No trajectory matches the filters";
      $("traj-meta").textContent = "";
      $("step-label").textContent = "";
      $("prev").disabled = $("next").disabled = true;
      return;
    }
    var e = entries[state.current];
    var n = e.steps.length, k = state.step;
    $("traj-title").textContent = e.id;
    var meta = [e.stage, e.subset, e.status === "kept" ? "kept" : e.status + ": " + e.reason];
    if (e.termination) meta.push("termination: " + e.termination);
    var g = groupTotal(e);
    if (g) meta.push("group sample " + g.shown + " of " + g.total);
    $("traj-meta").textContent = meta.join(" · ");
    $("step-label").textContent = k === 0 ? "question (step 0 of " + n + ")" : "turn " + k + " of " + n;
    $("prev").disabled = k <= 0;
    $("next").disabled = k >= n;
    text.dataset.step = String(k);
    if (k === 0) {
      e.inputs.forEach(function (img) {
        images.appendChild(figure(img, "input image " + img.index + size(img)));
      });
      if (!e.inputs.length) images.appendChild(el("p", "note", "no input images"));
      field(text, "rejected because", e.status === "rejected" ? e.reason + (e.detail ? ": " + e.detail : "") : "", "error");
      field(text, "question (first user turn)", e.question);
      field(text, "ground truth", e.gold);
      details(text, "system prompt", e.system);
      if (!n) text.appendChild(el("p", "note", "This record has no turns to step through."));
      return;
    }
    var st = e.steps[k - 1];
    if (st.images.length) {
      st.images.forEach(function (img) {
        var on = img.parent || (st.parents.length ? st.parents.join(", ") : "?");
        images.appendChild(figure(img, "image " + img.index + size(img) + ", drawn on image " + on));
      });
    } else {
      var prev = lastImage(e, k);
      if (prev) images.appendChild(figure(prev, "this turn rendered no image; image " + prev.index + " shown for context", true));
      else images.appendChild(el("p", "note", "this turn rendered no image"));
    }
    field(text, "think", st.think);
    field(text, "action", st.action || "(none)");
    field(text, "operations", st.operations.join("\n"));
    field(text, "answer", st.answer);
    field(text, "error", st.error ? st.error + (st.error_detail ? ": " + st.error_detail : "") : "", "error");
    field(text, "format issues", st.format_issues.join("\n"));
    details(text, "environment reply", st.env_reply);
    details(text, "raw assistant turn", st.raw);
  }

  function go(delta) {
    if (state.current < 0) return;
    var n = entries[state.current].steps.length;
    state.step = Math.max(0, Math.min(n, state.step + delta));
    render();
  }

  function moveTrajectory(delta) {
    var pos = state.visible.indexOf(state.current);
    var next = state.visible[pos + delta];
    if (next !== undefined) select(next);
  }

  addOptions($("f-subset"), data.subsets);
  addOptions($("f-reason"), data.reasons);
  ["f-subset", "f-status", "f-reason"].forEach(function (id) {
    $(id).addEventListener("change", applyFilters);
  });
  $("prev").addEventListener("click", function () { go(-1); });
  $("next").addEventListener("click", function () { go(1); });
  document.addEventListener("keydown", function (ev) {
    var tag = ev.target && ev.target.tagName;
    if (tag === "SELECT" || tag === "INPUT" || tag === "TEXTAREA") return;
    if (ev.key === "ArrowRight") { go(1); ev.preventDefault(); }
    else if (ev.key === "ArrowLeft") { go(-1); ev.preventDefault(); }
    else if (ev.key === "ArrowDown" || ev.key === "j") { moveTrajectory(1); ev.preventDefault(); }
    else if (ev.key === "ArrowUp" || ev.key === "k") { moveTrajectory(-1); ev.preventDefault(); }
  });
  applyFilters();
  document.body.dataset.ready = "1";
})();
