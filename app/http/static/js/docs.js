// /docs: Swagger UI (vendored from npm, see static/vendor/VERSIONS) over /openapi.json.
"use strict";
window.SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger",
  deepLinking: true,
  tryItOutEnabled: false,
  defaultModelsExpandDepth: 0,
  docExpansion: "list",
});
