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
