/* Progressive enhancements of the pages; each works without this file:
 * - a Jalali (solar hijri) date picker beside date inputs that accept typed dates;
 * - the progress of a long form by section;
 * - focus on the first field the server rejected;
 * - a print button where a page offers one.
 * Every text comes from the catalogue through <body data-ui>. */
(function () {
  "use strict";

  var UI = {};
  var PERSIAN_DIGITS = "۰۱۲۳۴۵۶۷۸۹";

  function fa(value) {
    return String(value).replace(/[0-9]/g, function (d) { return PERSIAN_DIGITS[d]; });
  }

  function latin(text) {
    return String(text).replace(/[۰-۹]/g, function (d) { return PERSIAN_DIGITS.indexOf(d); })
      .replace(/[٠-٩]/g, function (d) { return d.charCodeAt(0) - 0x660; });
  }

  function format(template, values) {
    return template.replace(/\{(\w+)\}/g, function (_, name) { return values[name]; });
  }

  /* ---- Jalali calendar arithmetic (the 2820-year-free "jalaali" algorithm, years 1–3177) ---- */

  var BREAKS = [-61, 9, 38, 199, 426, 686, 756, 818, 1111, 1181, 1210, 1635, 2060, 2097, 2192, 2262,
    2324, 2394, 2456, 3178];

  function div(a, b) { return ~~(a / b); }
  function mod(a, b) { return a - ~~(a / b) * b; }

  function jalCal(jy) {
    var gy = jy + 621, leapJ = -14, jp = BREAKS[0], jm, jump = 0, n, i;
    for (i = 1; i < BREAKS.length; i += 1) {
      jm = BREAKS[i];
      jump = jm - jp;
      if (jy < jm) { break; }
      leapJ = leapJ + div(jump, 33) * 8 + div(mod(jump, 33), 4);
      jp = jm;
    }
    n = jy - jp;
    leapJ = leapJ + div(n, 33) * 8 + div(mod(n, 33) + 3, 4);
    if (mod(jump, 33) === 4 && jump - n === 4) { leapJ += 1; }
    var leapG = div(gy, 4) - div((div(gy, 100) + 1) * 3, 4) - 150;
    var march = 20 + leapJ - leapG;
    if (jump - n < 6) { n = n - jump + div(jump + 4, 33) * 33; }
    var leap = mod(mod(n + 1, 33) - 1, 4);
    if (leap === -1) { leap = 4; }
    return { leap: leap, gy: gy, march: march };
  }

  function g2d(gy, gm, gd) {
    var d = div((gy + div(gm - 8, 6) + 100100) * 1461, 4) + div(153 * mod(gm + 9, 12) + 2, 5) + gd - 34840408;
    return d - div(div(gy + 100100 + div(gm - 8, 6), 100) * 3, 4) + 752;
  }

  function d2g(jdn) {
    var j = 4 * jdn + 139361631;
    j = j + div(div(4 * jdn + 183187720, 146097) * 3, 4) * 4 - 3908;
    var i = div(mod(j, 1461), 4) * 5 + 308;
    var gd = div(mod(i, 153), 5) + 1;
    var gm = mod(div(i, 153), 12) + 1;
    return { gy: div(j, 1461) - 100100 + div(8 - gm, 6), gm: gm, gd: gd };
  }

  function j2d(jy, jm, jd) {
    var r = jalCal(jy);
    return g2d(r.gy, 3, r.march) + (jm - 1) * 31 - div(jm, 7) * (jm - 7) + jd - 1;
  }

  function d2j(jdn) {
    var gy = d2g(jdn).gy, jy = gy - 621, r = jalCal(jy), k = jdn - g2d(gy, 3, r.march);
    if (k >= 0) {
      if (k <= 185) { return { jy: jy, jm: 1 + div(k, 31), jd: mod(k, 31) + 1 }; }
      k -= 186;
    } else {
      jy -= 1;
      k += 179;
      if (r.leap === 1) { k += 1; }
    }
    return { jy: jy, jm: 7 + div(k, 30), jd: mod(k, 30) + 1 };
  }

  function monthLength(jy, jm) {
    if (jm <= 6) { return 31; }
    if (jm <= 11) { return 30; }
    return jalCal(jy).leap === 0 ? 30 : 29;
  }

  /* Saturday is the first day of the Persian week: 0 = Saturday … 6 = Friday. */
  function weekday(jdn) { return mod(jdn + 2, 7); }

  function todayJdn() {
    var now = new Date();
    return g2d(now.getFullYear(), now.getMonth() + 1, now.getDate());
  }

  function parseJalali(text) {
    var match = /^\s*(\d{4})\s*[\/\-.]\s*(\d{1,2})\s*[\/\-.]\s*(\d{1,2})\s*$/.exec(latin(text || ""));
    if (!match) { return null; }
    var jy = +match[1], jm = +match[2], jd = +match[3];
    if (jy < 1200 || jy > 1500 || jm < 1 || jm > 12 || jd < 1 || jd > monthLength(jy, jm)) { return null; }
    return j2d(jy, jm, jd);
  }

  function pad(n) { return n < 10 ? "0" + n : String(n); }

  function formatJalali(jdn) {
    var j = d2j(jdn);
    return fa(j.jy + "/" + pad(j.jm) + "/" + pad(j.jd));
  }

  /* ---- the picker ---- */

  var pickerCount = 0;
  /* the days off of the signed-in person's office (/calendar/days-off.json): read once, when a picker opens */
  var daysOff = null, daysOffAsked = false;

  function loadDaysOff(then) {
    var url = document.body.dataset.daysOff;
    if (daysOff || daysOffAsked || !url || !window.fetch) { return; }
    daysOffAsked = true;
    fetch(url, { credentials: "same-origin" }).then(function (response) {
      return response.ok ? response.json() : null;
    }).then(function (found) {
      if (found) { daysOff = found; then(); }
    }).catch(function () { daysOffAsked = false; });
  }

  function dayOffReason(jdn) {
    if (!daysOff) { return null; }
    var g = d2g(jdn), key = g.gy + "-" + pad(g.gm) + "-" + pad(g.gd);
    if (daysOff.days[key]) { return daysOff.days[key]; }
    return daysOff.weekly.indexOf(weekday(jdn)) >= 0 ? UI.weekdays[weekday(jdn)] : null;
  }

  function DatePicker(input) {
    this.input = input;
    this.id = "picker-" + (pickerCount += 1);
    this.button = document.createElement("button");
    this.button.type = "button";
    this.button.className = "picker-toggle secondary small";
    this.button.textContent = UI.short;
    this.button.setAttribute("aria-label", UI.open);
    this.button.title = UI.open;
    this.button.setAttribute("aria-haspopup", "dialog");
    this.button.setAttribute("aria-expanded", "false");
    this.button.setAttribute("aria-controls", this.id);
    this.button.id = input.id ? input.id + "-picker" : this.id + "-toggle";
    var row = document.createElement("div");
    row.className = "picker-row";
    input.parentNode.insertBefore(row, input);
    row.appendChild(input);
    row.appendChild(this.button);
    this.panel = null;
    this.row = row;
    var self = this;
    this.button.addEventListener("click", function () {
      if (self.panel) { self.close(true); } else { self.open(); }
    });
  }

  DatePicker.prototype.open = function () {
    var jdn = parseJalali(this.input.value) || todayJdn();
    var j = d2j(jdn);
    this.focusJdn = jdn;
    this.year = j.jy;
    this.month = j.jm;
    this.panel = document.createElement("div");
    this.panel.className = "picker";
    this.panel.id = this.id;
    this.panel.setAttribute("role", "dialog");
    this.panel.setAttribute("aria-label", UI.dialog);
    this.row.parentNode.insertBefore(this.panel, this.row.nextSibling);
    this.button.setAttribute("aria-expanded", "true");
    var self = this;
    this.panel.addEventListener("keydown", function (event) { self.onKey(event); });
    this.outside = function (event) {
      if (self.panel && !self.panel.contains(event.target) && event.target !== self.button) { self.close(false); }
    };
    document.addEventListener("mousedown", this.outside);
    this.render(true);
    loadDaysOff(function () {
      /* mark the days in place: re-rendering would take the focus from the day the keyboard is on */
      if (self.panel) {
        Array.prototype.forEach.call(self.panel.querySelectorAll("button.picker-day"), function (button) {
          markDayOff(button, +button.dataset.jdn);
        });
      }
    });
  };

  function markDayOff(button, jdn) {
    var off = dayOffReason(jdn);
    button.classList.toggle("off", !!off);
    button.setAttribute("aria-label", button.dataset.label + (off ? "، " + UI.dayOff + ": " + off : ""));
    if (off) { button.title = UI.dayOff + ": " + off; } else { button.removeAttribute("title"); }
  }

  DatePicker.prototype.close = function (refocus) {
    if (!this.panel) { return; }
    document.removeEventListener("mousedown", this.outside);
    this.panel.parentNode.removeChild(this.panel);
    this.panel = null;
    this.button.setAttribute("aria-expanded", "false");
    if (refocus) { this.button.focus(); }
  };

  DatePicker.prototype.choose = function (jdn) {
    this.input.value = formatJalali(jdn);
    this.input.dispatchEvent(new Event("input", { bubbles: true }));
    this.input.dispatchEvent(new Event("change", { bubbles: true }));
    this.close(false);
    this.input.focus();
  };

  DatePicker.prototype.select = function (label, className, from, to, current, names) {
    var wrap = document.createElement("label");
    wrap.className = "picker-select";
    var caption = document.createElement("span");
    caption.className = "sr-only";
    caption.textContent = label;
    var select = document.createElement("select");
    select.className = className;
    for (var value = from; value <= to; value += 1) {
      var option = document.createElement("option");
      option.value = String(value);
      option.textContent = names ? names[value - 1] : fa(value);
      option.selected = value === current;
      select.appendChild(option);
    }
    wrap.appendChild(caption);
    wrap.appendChild(select);
    return wrap;
  };

  DatePicker.prototype.navButton = function (text, label, step) {
    var button = document.createElement("button");
    button.type = "button";
    button.className = "secondary small picker-nav";
    button.textContent = text;
    button.setAttribute("aria-label", label);
    var self = this;
    button.addEventListener("click", function () { self.shiftMonth(step, false); });
    return button;
  };

  DatePicker.prototype.shiftMonth = function (step, keepFocus) {
    var m = this.month + step, y = this.year;
    while (m < 1) { m += 12; y -= 1; }
    while (m > 12) { m -= 12; y += 1; }
    var day = Math.min(d2j(this.focusJdn).jd, monthLength(y, m));
    this.year = y;
    this.month = m;
    this.focusJdn = j2d(y, m, day);
    this.render(keepFocus);
  };

  DatePicker.prototype.render = function (focusDay) {
    var self = this, panel = this.panel;
    panel.textContent = "";
    var thisYear = d2j(todayJdn()).jy;
    var head = document.createElement("div");
    head.className = "picker-head";
    head.appendChild(this.navButton("›", UI.previous, -1));
    var years = this.select(UI.year, "picker-year", 1300, Math.max(thisYear + 10, this.year), this.year);
    var months = this.select(UI.month, "picker-month", 1, 12, this.month, UI.months);
    head.appendChild(months);
    head.appendChild(years);
    head.appendChild(this.navButton("‹", UI.next, 1));
    panel.appendChild(head);
    months.querySelector("select").addEventListener("change", function (event) {
      self.shiftMonth(+event.target.value - self.month, false);
    });
    years.querySelector("select").addEventListener("change", function (event) {
      self.shiftMonth((+event.target.value - self.year) * 12, false);
    });

    var table = document.createElement("table");
    table.className = "picker-grid";
    table.setAttribute("role", "grid");
    table.setAttribute("aria-label", UI.months[this.month - 1] + " " + fa(this.year));
    var headRow = document.createElement("tr");
    UI.weekdaysShort.forEach(function (name, index) {
      var th = document.createElement("th");
      th.scope = "col";
      th.textContent = name;
      th.title = UI.weekdays[index];
      headRow.appendChild(th);
    });
    var thead = document.createElement("thead");
    thead.appendChild(headRow);
    table.appendChild(thead);
    var body = document.createElement("tbody");
    var first = j2d(this.year, this.month, 1), length = monthLength(this.year, this.month);
    var chosen = parseJalali(this.input.value), today = todayJdn();
    var row = document.createElement("tr");
    for (var blank = 0; blank < weekday(first); blank += 1) { row.appendChild(document.createElement("td")); }
    for (var day = 1; day <= length; day += 1) {
      var jdn = first + day - 1;
      if (weekday(jdn) === 0 && row.childNodes.length) {
        body.appendChild(row);
        row = document.createElement("tr");
      }
      var cell = document.createElement("td");
      var button = document.createElement("button");
      button.type = "button";
      button.className = "picker-day" + (jdn === today ? " today" : "");
      button.textContent = fa(day);
      button.dataset.jdn = String(jdn);
      button.tabIndex = jdn === this.focusJdn ? 0 : -1;
      button.dataset.label = fa(day) + " " + UI.months[this.month - 1] + " " + fa(this.year) + "، " +
        UI.weekdays[weekday(jdn)];
      markDayOff(button, jdn);
      if (jdn === chosen) { button.setAttribute("aria-pressed", "true"); }
      cell.appendChild(button);
      row.appendChild(cell);
    }
    body.appendChild(row);
    table.appendChild(body);
    panel.appendChild(table);
    table.addEventListener("click", function (event) {
      var target = event.target.closest("button.picker-day");
      if (target) { self.choose(+target.dataset.jdn); }
    });

    var foot = document.createElement("div");
    foot.className = "picker-foot";
    var todayButton = document.createElement("button");
    todayButton.type = "button";
    todayButton.className = "secondary small";
    todayButton.textContent = UI.today;
    todayButton.addEventListener("click", function () { self.choose(todayJdn()); });
    var closeButton = document.createElement("button");
    closeButton.type = "button";
    closeButton.className = "secondary small";
    closeButton.textContent = UI.close;
    closeButton.addEventListener("click", function () { self.close(true); });
    foot.appendChild(todayButton);
    foot.appendChild(closeButton);
    panel.appendChild(foot);
    if (focusDay) {
      var focus = panel.querySelector("button.picker-day[tabindex='0']");
      if (focus) { focus.focus(); }
    }
  };

  DatePicker.prototype.onKey = function (event) {
    if (event.key === "Escape") {
      event.preventDefault();
      this.close(true);
      return;
    }
    var day = event.target.closest && event.target.closest("button.picker-day");
    if (!day) { return; }
    /* right to left: the next day is on the left */
    var steps = { ArrowLeft: 1, ArrowRight: -1, ArrowDown: 7, ArrowUp: -7 };
    var jdn = +day.dataset.jdn, target = null;
    if (event.key in steps) {
      target = jdn + steps[event.key];
    } else if (event.key === "PageDown" || event.key === "PageUp") {
      this.focusJdn = jdn;
      event.preventDefault();
      this.shiftMonth(event.key === "PageDown" ? 1 : -1, true);
      return;
    } else if (event.key === "Home") {
      target = jdn - weekday(jdn);
    } else if (event.key === "End") {
      target = jdn + 6 - weekday(jdn);
    } else {
      return;
    }
    event.preventDefault();
    var j = d2j(target);
    this.focusJdn = target;
    if (j.jy !== this.year || j.jm !== this.month) {
      this.year = j.jy;
      this.month = j.jm;
      this.render(true);
    } else {
      day.tabIndex = -1;
      var next = this.panel.querySelector("button.picker-day[data-jdn='" + target + "']");
      next.tabIndex = 0;
      next.focus();
    }
  };

  /* ---- progress of a long form ---- */

  function hasValue(element) {
    if (element.type === "checkbox" || element.type === "radio") { return element.checked; }
    if (element.type === "file") { return element.files.length > 0 || element.hasAttribute("data-uploaded"); }
    return element.value.trim() !== "";
  }

  function fieldFilled(field) {
    var controls = field.querySelectorAll("input:not([type=hidden]), select, textarea");
    for (var i = 0; i < controls.length; i += 1) {
      if (hasValue(controls[i])) { return true; }
    }
    return false;
  }

  function rowFilled(row) {
    return Array.prototype.some.call(row.querySelectorAll(".field"), fieldFilled);
  }

  function sectionComplete(section) {
    var rows = Array.prototype.filter.call(section.querySelectorAll(".row-item"), rowFilled);
    if (rows.length < +(section.dataset.minItems || 0)) { return false; }
    var fields = section.querySelectorAll(".field[data-required]");
    for (var i = 0; i < fields.length; i += 1) {
      var row = fields[i].closest(".row-item");
      /* an empty row of a list is ignored, as the server ignores it */
      if (row && !rowFilled(row)) { continue; }
      if (!fieldFilled(fields[i])) { return false; }
    }
    return true;
  }

  function trackProgress(nav) {
    var form = document.getElementById("task-form");
    var text = document.getElementById("progress-text");
    var bar = document.getElementById("progress-bar");
    var items = nav.querySelectorAll("li[data-section]");
    function update() {
      var done = 0;
      Array.prototype.forEach.call(items, function (item) {
        var section = document.getElementById(item.dataset.section);
        var bad = item.classList.contains("bad");
        var complete = section && !bad && sectionComplete(section);
        item.classList.toggle("done", Boolean(complete));
        if (!bad) { item.querySelector(".state").textContent = complete ? UI.sectionDone : ""; }
        if (complete) { done += 1; }
      });
      bar.value = done;
      text.textContent = format(UI.progress, { done: fa(done), total: fa(items.length) });
    }
    text.hidden = false;
    bar.hidden = false;
    /* a section the server rejected counts again once every field it rejected there was edited */
    form.addEventListener("input", function (event) {
      var field = event.target.closest && event.target.closest(".field.has-error");
      if (field) { field.classList.remove("has-error"); }
      var section = event.target.closest && event.target.closest("fieldset.form-section");
      var item = section && nav.querySelector("li[data-section='" + section.id + "']");
      if (item && item.classList.contains("bad") && !section.querySelector(".field.has-error")) {
        item.classList.remove("bad");
        item.querySelector(".state").textContent = "";
      }
    });
    form.addEventListener("input", update);
    form.addEventListener("change", update);
    update();
  }

  /* ---- a list of rows (the founding board): only the rows in use, «add» and «remove» buttons ---- */

  function clearRow(row) {
    Array.prototype.forEach.call(row.querySelectorAll("input, select, textarea"), function (control) {
      if (control.type === "checkbox" || control.type === "radio") { control.checked = false; }
      else if (control.type !== "hidden") { control.value = ""; }
      control.dispatchEvent(new Event("input", { bubbles: true }));
    });
  }

  function enhanceList(section) {
    var rows = Array.prototype.slice.call(section.querySelectorAll(":scope > .row-item"));
    var buttons = section.querySelector(":scope > .row-buttons");
    if (!rows.length || !buttons) { return; }
    var minimum = Math.max(+(section.dataset.minItems || 0), 1);
    var used = 0;
    rows.forEach(function (row, index) {
      if (rowFilled(row) || row.querySelector(".has-error")) { used = index + 1; }
    });
    rows.forEach(function (row, index) { row.hidden = index >= Math.max(used, minimum); });
    var add = document.createElement("button");
    add.type = "button";
    add.className = "secondary small add-row";
    add.textContent = buttons.dataset.add;
    function refresh() {
      var visible = rows.filter(function (row) { return !row.hidden; });
      add.hidden = visible.length === rows.length;
      visible.forEach(function (row) {
        row.querySelector(".remove-row").hidden = visible.length <= minimum;
      });
    }
    rows.forEach(function (row) {
      var remove = document.createElement("button");
      remove.type = "button";
      remove.className = "secondary small remove-row";
      remove.textContent = buttons.dataset.remove;
      remove.addEventListener("click", function () {
        clearRow(row);
        row.hidden = true;
        refresh();
        add.focus();
      });
      row.querySelector(".row-title").appendChild(remove);
    });
    add.addEventListener("click", function () {
      var next = rows.filter(function (row) { return row.hidden; })[0];
      if (!next) { return; }
      next.hidden = false;
      refresh();
      var first = next.querySelector("input:not([type=hidden]), select, textarea");
      if (first) { first.focus(); }
    });
    buttons.appendChild(add);
    refresh();
  }

  /* ---- after the server rejected a submission: say what, and go to the first field ---- */

  function summarizeErrors(summary) {
    var fields = document.querySelectorAll(".field.has-error");
    if (document.getElementById("error-list")) { summary.focus(); return; }  /* listed by the server */
    if (!fields.length) { return; }
    var title = document.createElement("p");
    title.textContent = UI.errorSummary;
    var list = document.createElement("ul");
    Array.prototype.forEach.call(fields, function (field) {
      var control = field.querySelector("input:not([type=hidden]), select, textarea");
      var label = field.querySelector("label, .label");
      if (!control || !label) { return; }
      var item = document.createElement("li");
      var link = document.createElement("a");
      link.href = "#" + (control.id || "");
      link.textContent = label.textContent.trim();
      link.addEventListener("click", function (event) {
        event.preventDefault();
        control.focus();
      });
      item.appendChild(link);
      list.appendChild(item);
    });
    summary.appendChild(title);
    summary.appendChild(list);
    summary.focus();
  }

  /* ---- file inputs: a button and the chosen name in Persian ---- */

  function enhanceFile(input) {
    var label = document.querySelector("label[for='" + input.id + "']");
    var wrap = document.createElement("div");
    wrap.className = "file-pick";
    var button = document.createElement("button");
    button.type = "button";
    button.className = "secondary small";
    button.textContent = UI.chooseFile;
    button.id = input.id + "-button";
    if (label) {
      label.id = label.id || input.id + "-label";
      button.setAttribute("aria-labelledby", label.id + " " + button.id);
    }
    var name = document.createElement("span");
    name.className = "file-name";
    name.setAttribute("aria-live", "polite");
    var none = input.hasAttribute("data-uploaded") ? "" : UI.noFile;
    name.textContent = none;
    input.parentNode.insertBefore(wrap, input);
    wrap.appendChild(input);
    wrap.appendChild(button);
    wrap.appendChild(name);
    input.tabIndex = -1;
    input.setAttribute("aria-hidden", "true");
    button.addEventListener("click", function () { input.click(); });
    input.addEventListener("change", function () {
      name.textContent = input.files.length ? input.files[0].name : none;
    });
  }

  /* ---- a task form kept on the phone: what is typed (and the files chosen) survives a dropped signal
     or a closed page, and a form signed while offline is sent as soon as the connection returns. The
     PIN is never kept; what is kept is the signed-in person's, for this task, and goes once it is sent. ---- */

  var KEPT = "kept:";
  var SENT = "sent:";

  function keptFiles(done) {
    if (!window.indexedDB) { done(null); return; }
    var request = window.indexedDB.open("kept-forms", 1);
    request.onupgradeneeded = function () { request.result.createObjectStore("files"); };
    request.onsuccess = function () { done(request.result); };
    request.onerror = function () { done(null); };
  }

  function withFiles(mode, work) {
    keptFiles(function (db) {
      if (!db) { return; }
      var store = db.transaction("files", mode).objectStore("files");
      work(store);
    });
  }

  function forget(key) {
    window.localStorage.removeItem(KEPT + key);
    withFiles("readwrite", function (store) {
      store.openCursor().onsuccess = function (event) {
        var cursor = event.target.result;
        if (!cursor) { return; }
        if (String(cursor.key).indexOf(key + "|") === 0) { cursor.delete(); }
        cursor.continue();
      };
    });
  }

  function forgetSent(current) {
    /* a form sent from another page was taken (the server moved on): what was kept for it goes */
    for (var i = window.sessionStorage.length - 1; i >= 0; i -= 1) {
      var name = window.sessionStorage.key(i);
      if (name && name.indexOf(SENT) === 0) {
        var key = name.slice(SENT.length);
        window.sessionStorage.removeItem(name);
        if (key !== current) { forget(key); }
      }
    }
  }

  function keptFields(form) {
    return Array.prototype.filter.call(form.querySelectorAll("input[name], select[name], textarea[name]"), function (field) {
      return field.type !== "password" && field.type !== "hidden" && field.type !== "file" && field.type !== "submit";
    });
  }

  function keepOnPhone(form) {
    var key = form.dataset.keep;
    var status = document.getElementById("offline-status");
    var held = null;
    forgetSent(key);

    function show(text, discard) {
      status.textContent = text;
      if (discard) {
        var button = document.createElement("button");
        button.type = "button";
        button.className = "secondary small";
        button.id = "discard-kept";
        button.textContent = UI.draftDiscard;
        button.addEventListener("click", function () { forget(key); status.hidden = true; });
        status.appendChild(document.createTextNode(" "));
        status.appendChild(button);
      }
      status.hidden = false;
    }

    function save() {
      var values = {};
      keptFields(form).forEach(function (field) {
        if (field.type === "checkbox") {
          values[field.name] = field.checked;
        } else if (field.type === "radio") {
          if (field.checked) { values[field.name] = field.value; }
        } else if (field.value) {
          values[field.name] = field.value;
        }
      });
      window.localStorage.setItem(KEPT + key, JSON.stringify({ values: values, at: Date.now() }));
    }

    function restore() {
      var kept = null;
      try { kept = JSON.parse(window.localStorage.getItem(KEPT + key) || "null"); } catch (error) { kept = null; }
      if (!kept || !kept.values) { return false; }
      var restored = false;
      keptFields(form).forEach(function (field) {
        if (!(field.name in kept.values)) { return; }
        var value = kept.values[field.name];
        if (field.type === "checkbox") {
          if (value === true && !field.checked) { field.checked = true; restored = true; }
        } else if (field.type === "radio") {
          var chosen = form.querySelector("input[type=radio][name='" + field.name + "']:checked");
          if (!chosen && field.value === value) { field.checked = true; restored = true; }
        } else if (!field.value) {
          field.value = value;
          restored = true;
        }
      });
      return restored;
    }

    function restoreFiles(then) {
      var inputs = Array.prototype.filter.call(form.querySelectorAll("input[type=file][name]"), function (input) {
        return !input.files.length && !input.hasAttribute("data-uploaded");
      });
      if (!inputs.length || typeof DataTransfer === "undefined") { then(false); return; }
      var left = inputs.length;
      var restored = false;
      withFiles("readonly", function (store) {
        inputs.forEach(function (input) {
          var request = store.get(key + "|" + input.name);
          request.onsuccess = function () {
            var file = request.result;
            if (file) {
              var chosen = new DataTransfer();
              chosen.items.add(file);
              input.files = chosen.files;
              input.dispatchEvent(new Event("change", { bubbles: true }));
              restored = true;
            }
            left -= 1;
            if (left === 0) { then(restored); }
          };
        });
      });
    }

    form.addEventListener("input", save);
    form.addEventListener("change", function (event) {
      var input = event.target;
      if (input.type === "file" && input.name) {
        var file = input.files[0];
        withFiles("readwrite", function (store) {
          if (file) { store.put(file, key + "|" + input.name); } else { store.delete(key + "|" + input.name); }
        });
      }
      save();
    });
    form.addEventListener("submit", function (event) {
      if (navigator.onLine === false) {
        event.preventDefault();
        save();
        held = event.submitter || document.getElementById("submit");
        show(UI.offlineHeld, false);
        status.scrollIntoView({ block: "center" });
        return;
      }
      window.sessionStorage.setItem(SENT + key, "1");
    });
    window.addEventListener("online", function () {
      if (!held) { return; }
      var submitter = held;
      held = null;
      show(UI.offlineSending, false);
      form.requestSubmit(submitter);
    });
    var typed = restore();
    restoreFiles(function (files) {
      if (typed || files) { show(UI.draftRestored, true); }
    });
  }

  function start() {
    try {
      UI = JSON.parse(document.body.dataset.ui || "{}");
    } catch (error) {
      return;
    }
    Array.prototype.forEach.call(document.querySelectorAll("input[data-jalali-picker]"), function (input) {
      input.pickerControl = new DatePicker(input);
    });
    Array.prototype.forEach.call(document.querySelectorAll("input[type=file][id]"), enhanceFile);
    Array.prototype.forEach.call(document.querySelectorAll("fieldset.form-section[data-min-items]"), enhanceList);
    var menu = document.getElementById("menu");
    var phone = window.matchMedia("(max-width: 640px)");
    if (menu) {
      /* folded on a phone, open wherever the screen has room (also after the window is resized) */
      menu.open = !phone.matches;
      phone.addEventListener("change", function () { menu.open = !phone.matches; });
    }
    Array.prototype.forEach.call(document.querySelectorAll("button[data-print]"), function (button) {
      button.hidden = false;
      button.addEventListener("click", function () { window.print(); });
    });
    var nav = document.getElementById("form-progress");
    if (nav) { trackProgress(nav); }
    var summary = document.getElementById("error-summary");
    if (summary) { summarizeErrors(summary); }
    var kept = document.querySelector("form[data-keep]");
    try {
      if (kept) { keepOnPhone(kept); } else { forgetSent(null); }
    } catch (error) { /* no storage (a private window): the form works as before */ }
    document.body.dataset.enhanced = "true";
  }

  window.jalali = { toJdn: j2d, fromJdn: d2j, parse: parseJalali, format: formatJalali, weekday: weekday };

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
}());
