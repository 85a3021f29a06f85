// Starts Swagger UI on the page served at /schema: a static file, so the page needs no inline
// script. The spec's URL comes from the page (data-spec-url), where the app put it.
"use strict";

window.addEventListener("DOMContentLoaded", () => {
  const root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.dataset.specUrl,
    dom_id: "#swagger-ui",
    deepLinking: true,
    // Keeps the token given in "Authorize" across reloads of this page only.
    persistAuthorization: true,
    // The spec is served by the app itself: no call to swagger.io's online validator.
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
  });
});
