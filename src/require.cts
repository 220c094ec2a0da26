// What `require("troupe")` loads: troupe is an ES module, so say how to load
// it instead of Node's ERR_PACKAGE_PATH_NOT_EXPORTED. A plain Error with
// Node's own code for this case: CommonJS cannot load troupe's error classes.

throw Object.assign(
  new Error(
    'troupe is an ES module and cannot be loaded with require(): use `import { Client } from "troupe"` in an ES module ' +
      '(a .mjs or .mts file, or "type": "module" in package.json), or `const { Client } = await import("troupe")` from CommonJS',
  ),
  { code: "ERR_REQUIRE_ESM" },
);
