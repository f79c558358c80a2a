// Starts Swagger UI on /docs. pixelflow's own file (not from swagger-ui-dist): a separate script,
// not an inline one, so the page's Content-Security-Policy can forbid inline scripts.
window.ui = SwaggerUIBundle({
  url: "openapi.json",      // relative to the page's <base>: works at /docs and under a stage (/api/docs)
  dom_id: "#swagger-ui",
  deepLinking: true,
  validatorUrl: null,       // never ask an outside validator about the document
});
