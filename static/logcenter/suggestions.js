// Suggestions for the filters with known values: a <datalist> per field, filled from
// GET /api/v1/<kind>/suggestions/?field=…&q=… as one types (the last value of a comma list).
(function () {
  function setUp() {
    var spec = document.getElementById("suggestions");
    if (!spec) return;
    var url = spec.dataset.url;
    spec.dataset.fields.split(",").forEach(function (name) {
      var input = document.querySelector('#filters input[name="' + name + '"]');
      if (!input || input.list) return;
      var list = document.createElement("datalist");
      list.id = "suggest-" + name;
      document.body.appendChild(list);
      input.setAttribute("list", list.id);
      input.setAttribute("autocomplete", "off");
      var timer = null, asked = null;
      function ask() {
        var text = input.value, cut = text.lastIndexOf(",");
        var head = cut >= 0 ? text.slice(0, cut + 1) + " " : "", q = text.slice(cut + 1).trim();
        if (asked === name + "|" + q) return;
        asked = name + "|" + q;
        fetch(url + "?field=" + encodeURIComponent(name) + "&q=" + encodeURIComponent(q),
              {credentials: "same-origin", headers: {"Accept": "application/json"}})
          .then(function (r) { return r.ok ? r.json() : {results: []}; })
          .then(function (data) {
            list.replaceChildren.apply(list, data.results.map(function (item) {
              var option = document.createElement("option");
              option.value = head + item.value;
              if (item.label !== item.value) option.label = item.label;
              return option;
            }));
          })
          .catch(function () {});
      }
      input.addEventListener("focus", ask);
      input.addEventListener("input", function () {
        clearTimeout(timer);
        timer = setTimeout(ask, 150);
      });
    });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", setUp);
  else setUp();
  document.addEventListener("htmx:afterSettle", setUp);
})();
