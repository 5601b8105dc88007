// The filter bar sends only the fields that are set, so the address (which htmx pushes
// and people share) reads "?platform_model=gpt-4o", not twenty empty parameters.
document.addEventListener("htmx:configRequest", function (event) {
  var form = event.detail.elt;
  var data = event.detail.formData;
  if (!form || form.id !== "filters" || !data) return;
  Array.from(new Set(data.keys())).forEach(function (key) {
    if (data.getAll(key).every(function (value) { return value === ""; })) data.delete(key);
  });
});

// Back and Forward: the address is the truth. htmx's snapshot of a page was taken when the
// next filter was already typed, so the fields are set again from the restored address, and
// "More filters" opens when one of its fields holds a value (as the server renders it).
function syncFiltersToAddress() {
  var form = document.getElementById("filters");
  if (!form) return;
  var params = new URLSearchParams(location.search);
  form.querySelectorAll("input[name], select[name]").forEach(function (field) {
    var values = params.getAll(field.name);
    if (field.type === "hidden") {
      if (values.length) field.value = values[0]; else field.remove();
    } else if (field.type === "checkbox" || field.type === "radio") {
      field.checked = values.indexOf(field.value) !== -1;
    } else if (field.tagName === "SELECT") {
      if (values.length) field.value = values[0];
      else if (Array.from(field.options).some(function (o) { return o.value === ""; })) field.value = "";
    } else {
      field.value = values.join(",");
    }
  });
  var more = document.getElementById("more-filters");
  if (more && Array.from(more.querySelectorAll("input[name], select[name]")).some(function (f) {
    return f.name !== "page_size" && params.get(f.name);
  })) more.open = true;
}
document.addEventListener("htmx:historyRestore", syncFiltersToAddress);

// htmx keeps a snapshot of the page's HTML for Back and Forward. What was typed into a field
// lives in the field, not in its HTML: write it there first, so that Back shows the filters
// that gave those results.
document.addEventListener("htmx:beforeHistorySave", function () {
  document.querySelectorAll("#filters input, #filters select").forEach(function (field) {
    if (field.type === "checkbox" || field.type === "radio") {
      field.toggleAttribute("checked", field.checked);
    } else if (field.tagName === "SELECT") {
      Array.from(field.options).forEach(function (option) {
        option.toggleAttribute("selected", option.selected);
      });
    } else {
      field.setAttribute("value", field.value);
    }
  });
});

// The charts panel stays open or closed as the reader left it. (Listeners sit on the
// document: Back and Forward put in new elements.)
var CHARTS_KEY = "logcenter.charts-open";
function restoreChartsPanel() {
  var panel = document.getElementById("charts-panel");
  if (!panel) return;
  try {
    if (localStorage.getItem(CHARTS_KEY) === "false") panel.open = false;
  } catch (e) { /* storage refused: the panel stays open */ }
}
document.addEventListener("toggle", function (event) {
  if (event.target.id !== "charts-panel") return;
  try { localStorage.setItem(CHARTS_KEY, String(event.target.open)); } catch (e) { /* ignore */ }
}, true);

// The phone's menu: the top bar's tabs and links behind one button.
function setMenu(open) {
  var toggle = document.getElementById("menu-toggle");
  var nav = document.getElementById("topnav");
  if (!toggle || !nav) return;
  toggle.setAttribute("aria-expanded", String(open));
  nav.classList.toggle("open", open);
}
document.addEventListener("click", function (event) {
  var toggle = event.target.closest && event.target.closest("#menu-toggle");
  if (toggle) setMenu(toggle.getAttribute("aria-expanded") !== "true");
});
document.addEventListener("keydown", function (event) {
  var nav = document.getElementById("topnav");
  if (event.key === "Escape" && nav && nav.classList.contains("open")) {
    setMenu(false);
    document.getElementById("menu-toggle").focus();
  }
});

// The list's dropdowns (saved views, columns: <details class="menu">): one open at a time;
// Escape closes the open one (focus back on its button), and so does a click outside it.
function closeMenus(except) {
  document.querySelectorAll("details.menu[open]").forEach(function (menu) {
    if (menu !== except) menu.open = false;
  });
}
document.addEventListener("toggle", function (event) {
  var menu = event.target;
  if (menu.matches && menu.matches("details.menu") && menu.open) closeMenus(menu);
}, true);
document.addEventListener("click", function (event) {
  var inside = event.target.closest && event.target.closest("details.menu");
  closeMenus(inside);
});
document.addEventListener("keydown", function (event) {
  if (event.key !== "Escape") return;
  var open = document.querySelector("details.menu[open]");
  if (!open) return;
  closeMenus(null);
  open.querySelector("summary").focus();
});

document.addEventListener("DOMContentLoaded", restoreChartsPanel);
// Results swapped in (the filter bar, Back and Forward) bring a new panel.
document.addEventListener("htmx:afterSettle", restoreChartsPanel);
document.addEventListener("htmx:historyRestore", restoreChartsPanel);
