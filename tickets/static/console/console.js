/* cstrack console: small progressive enhancements, no dependencies.
   - the kind picker opens the form when a kind is chosen
   - kind fields with `required_when` and blocks with `data-show-when` show only when they apply
   - typing a phone, member ID, driver ID or call ID offers matching tickets (open ones to log a
     re-contact on, closed ones to look at) and says what matched
   - after a failed submit, focus moves to the first field in error (else the first message)
   - queues: a "select all" box and a live count of the ticked rows for the bulk form
   - the navigation counts: a server-rendered partial fetched on load and every minute while
     the tab is visible (no inline script, no library) */
(function () {
  "use strict";

  function fieldValue(form, name) {
    var inputs = form.querySelectorAll('[name="' + name + '"]');
    if (!inputs.length) return undefined;
    var first = inputs[0];
    if (first.type === "checkbox") {
      if (inputs.length === 1) return first.checked ? true : undefined;
      return Array.prototype.filter.call(inputs, function (i) { return i.checked; }).map(function (i) { return i.value; });
    }
    return first.value === "" ? undefined : first.value;
  }

  function conditionMet(form, cond, prefix) {
    return Object.keys(cond).every(function (other) {
      var wanted = Array.isArray(cond[other]) ? cond[other] : [cond[other]];
      return wanted.indexOf(fieldValue(form, prefix + other)) !== -1;
    });
  }

  function toggle(block, show) {
    block.hidden = !show;
    block.querySelectorAll("input, select, textarea").forEach(function (el) { el.disabled = !show; });
  }

  function refreshConditions(form) {
    form.querySelectorAll("[data-required-when]").forEach(function (block) {
      toggle(block, conditionMet(form, JSON.parse(block.dataset.requiredWhen), "details."));
    });
    form.querySelectorAll("[data-show-when]").forEach(function (block) {
      toggle(block, conditionMet(form, JSON.parse(block.dataset.showWhen), ""));
    });
  }

  function debounce(fn, ms) {
    var timer;
    return function () { clearTimeout(timer); timer = setTimeout(fn, ms); };
  }

  function setupMatching(form) {
    var url = form.dataset.matchingUrl, box = document.getElementById("matches");
    var inputs = form.querySelectorAll("[data-match]");
    if (!url || !box || !inputs.length) return;
    var seq = 0;
    var lookup = debounce(function () {
      var params = new URLSearchParams(), any = false;
      inputs.forEach(function (i) {
        var v = i.value.trim();
        if (v.length >= 3) { params.set(i.dataset.match, v); any = true; }
      });
      if (!any) { box.textContent = ""; return; }
      var mine = ++seq;
      // A POST with the form's CSRF token: the number never goes into a URL (history, access logs).
      var token = form.querySelector("[name=csrfmiddlewaretoken]");
      if (token) params.set("csrfmiddlewaretoken", token.value);
      fetch(url, { method: "POST", body: params, credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (r) { return r.ok ? r.json() : { results: [] }; })
        .then(function (data) {
          if (mine !== seq) return;
          box.textContent = "";
          (data.results || []).forEach(function (t) {
            var p = document.createElement("p");
            p.className = "match";
            p.textContent = t.offer + " ";
            var a = document.createElement("a");
            a.href = t.url;
            a.textContent = (t.link_label || data.action_label) + " (" + t.reference + ")";
            p.appendChild(a);
            (t.history || []).forEach(function (h) {
              var link = document.createElement("a");
              link.href = h.url;
              link.textContent = h.label;
              p.appendChild(document.createTextNode(" · "));
              p.appendChild(link);
            });
            if (!t.open) p.className += " closed";
            box.appendChild(p);
          });
        })
        .catch(function () { /* the lookup is a hint; the form works without it */ });
    }, 300);
    inputs.forEach(function (i) { i.addEventListener("input", lookup); });
    lookup();
  }

  var FIELD = "input:not([type=hidden]):not([disabled]), select:not([disabled]), textarea:not([disabled])";

  function focusFirstError() {
    // Fields the server marked: tell assistive technology, and link the message to the field.
    document.querySelectorAll(".has-error").forEach(function (box) {
      var field = box.querySelector(FIELD), msg = box.querySelector(".error");
      if (!field) return;
      field.setAttribute("aria-invalid", "true");
      if (msg && !field.getAttribute("aria-describedby")) {
        if (!msg.id) msg.id = (field.id || "field") + "-err";
        field.setAttribute("aria-describedby", msg.id);
      }
    });
    var target = document.querySelector('[aria-invalid="true"]');
    if (!target) {
      target = document.querySelector(".errors, p.error, .warnings");
      if (target) target.setAttribute("tabindex", "-1");
    }
    if (!target) return;
    var closed = target.closest("details:not([open])");
    if (closed) closed.open = true;
    target.focus({ preventScroll: true });
    target.scrollIntoView({ block: "center" });
  }

  function setupSelection() {
    // Row boxes join their form through form="…"; [data-select-all=name] ticks all of them.
    document.querySelectorAll("[data-selected-count]").forEach(function (out) {
      var name = out.dataset.selectedCount, form = out.closest("form");
      var boxes = function () {
        return document.querySelectorAll('input[type=checkbox][name="' + name + '"][form="' + form.id + '"], #' + form.id + ' input[type=checkbox][name="' + name + '"]');
      };
      var update = function () {
        var n = Array.prototype.filter.call(boxes(), function (b) { return b.checked; }).length;
        out.textContent = n ? "(" + n + "건 선택)" : "";
      };
      document.querySelectorAll('[data-select-all="' + name + '"]').forEach(function (all) {
        all.addEventListener("change", function () {
          boxes().forEach(function (b) { b.checked = all.checked; });
          update();
        });
      });
      document.addEventListener("change", function (e) { if (e.target.name === name) update(); });
      update();
    });
  }

  var COUNTS_EVERY_MS = 60000;

  function setupNavCounts() {
    var nav = document.querySelector("nav[data-counts-url]");
    if (!nav || !window.fetch || !window.DOMParser) return;
    var url = nav.dataset.countsUrl, timer = null, stopped = false;
    function apply(html) {
      var doc = new DOMParser().parseFromString(html, "text/html");
      doc.querySelectorAll("[data-count]").forEach(function (c) {
        nav.querySelectorAll('[data-count-slot="' + c.dataset.count + '"]').forEach(function (slot) {
          slot.replaceChildren.apply(slot, Array.prototype.map.call(c.childNodes, function (n) { return document.importNode(n, true); }));
          slot.hidden = c.dataset.value === "0";
        });
      });
    }
    function refresh() {
      if (stopped || document.hidden) return;
      fetch(url, { credentials: "same-origin", headers: { Accept: "text/html" }, redirect: "manual" })
        .then(function (r) {
          if (r.status === 200) return r.text().then(apply);
          if (r.status === 403 || r.type === "opaqueredirect") stopped = true;  // signed out: stop asking
        })
        .catch(function () { /* offline for a moment: the next round tries again */ });
    }
    refresh();
    timer = setInterval(refresh, COUNTS_EVERY_MS);
    document.addEventListener("visibilitychange", function () { if (!document.hidden) refresh(); });
    return timer;
  }

  document.addEventListener("DOMContentLoaded", function () {
    focusFirstError();
    setupNavCounts();
    setupSelection();
    document.querySelectorAll("form[data-conditions]").forEach(function (f) {
      refreshConditions(f);
      f.addEventListener("change", function () { refreshConditions(f); });
    });
    // A pointer choice opens the form at once. From the keyboard, arrow keys only move through
    // the list (Chromium fires "change" on each): Enter or the button beside it opens the form.
    document.querySelectorAll("select[data-autosubmit]").forEach(function (sel) {
      var byKeyboard = false;
      function go() {
        if (!sel.value || !sel.form) return;
        var button = sel.dataset.autosubmit && document.getElementById(sel.dataset.autosubmit);
        if (button && sel.form.requestSubmit) sel.form.requestSubmit(button);
        else if (button) button.click();
        else sel.form.submit();
      }
      sel.addEventListener("keydown", function (e) {
        byKeyboard = true;
        if (e.key === "Enter") { e.preventDefault(); go(); }
      });
      sel.addEventListener("pointerdown", function () { byKeyboard = false; });
      sel.addEventListener("change", function () { if (!byKeyboard) go(); });
    });
    var form = document.getElementById("ticket-form");
    if (form) {
      refreshConditions(form);
      form.addEventListener("change", function () { refreshConditions(form); });
      setupMatching(form);
    }
  });
})();
