// Small DOM helpers. The console polls every second; rows and cards are updated in place (keyed
// by id) rather than rebuilt, so a button under the pointer is not replaced between press and
// release, and an input keeps its focus and text.

/** Creates an element: h("td", {class: "x", title: "y", dataset: {k: "v"}}, "text", child, ...). */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "dataset") Object.assign(el.dataset, v);
    else if (k === "class") el.className = v;
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) if (c !== undefined && c !== null && c !== false) el.append(c instanceof Node ? c : String(c));
  return el;
}

export function setText(el, text) {
  const t = text === undefined || text === null ? "" : String(text);
  if (el.textContent !== t) el.textContent = t;
}

export function $(sel, root = document) {
  return root.querySelector(sel);
}

/**
 * Makes container's children match items, in order, one child per key: create(item) makes a
 * new child, update(child, item) refreshes it (also right after create). Children of keys no
 * longer present are removed.
 */
export function syncChildren(container, items, keyOf, create, update) {
  const old = new Map();
  for (const c of [...container.children]) if (c.dataset.key !== undefined) old.set(c.dataset.key, c);
  let prev = null;
  for (const item of items) {
    const key = String(keyOf(item));
    let el = old.get(key);
    if (el) old.delete(key);
    else {
      el = create(item);
      el.dataset.key = key;
    }
    update(el, item);
    const want = prev ? prev.nextElementSibling : container.firstElementChild;
    if (want !== el) container.insertBefore(el, want);
    prev = el;
  }
  for (const el of old.values()) el.remove();
}

/**
 * Table rows from items. A cell is text, or {text, cls, title}, or {buttons: [{label, action,
 * data, cls, title, disabled}]}; buttons are rebuilt only when their description changes.
 */
export function syncRows(tbody, items, keyOf, cellsOf) {
  syncChildren(tbody, items, keyOf, () => document.createElement("tr"), (tr, item) => {
    const cells = cellsOf(item);
    while (tr.cells.length < cells.length) tr.insertCell();
    while (tr.cells.length > cells.length) tr.deleteCell(-1);
    cells.forEach((c, i) => setCell(tr.cells[i], c));
  });
}

function setCell(td, c) {
  const spec = c !== null && typeof c === "object" ? c : { text: c };
  const cls = spec.cls ?? "";
  if (td.className !== cls) td.className = cls;
  const title = spec.title ?? "";
  if (td.title !== title) td.title = title;
  if (spec.buttons) {
    const sig = JSON.stringify(spec.buttons);
    if (td.dataset.sig !== sig) {
      td.dataset.sig = sig;
      td.replaceChildren(...spec.buttons.map(button));
    }
    return;
  }
  if (td.dataset.sig !== undefined) {
    delete td.dataset.sig;
    td.replaceChildren();
  }
  setText(td, spec.text);
}

/** A button that the page's delegated click handler dispatches by data-action. */
export function button(b) {
  return h("button", {
    type: "button", class: b.cls ?? "small", title: b.title, disabled: b.disabled,
    dataset: { action: b.action, ...(b.data ?? {}) },
  }, b.label);
}

/** Asks in the page's <dialog id="confirm">; resolves true when confirmed. */
export function confirmDialog(title, body, okLabel = "OK") {
  const dlg = $("#confirm");
  setText($("#confirm-title"), title);
  $("#confirm-body").replaceChildren(...(Array.isArray(body) ? body : [body]).map((b) => (b instanceof Node ? b : h("p", {}, b))));
  setText($("#confirm-ok"), okLabel);
  return new Promise((resolve) => {
    dlg.addEventListener("close", () => resolve(dlg.returnValue === "ok"), { once: true });
    dlg.returnValue = "";
    dlg.showModal();
  });
}
