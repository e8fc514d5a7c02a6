// Before the page's other scripts: console errors and warnings and uncaught
// errors kept in `window.__logs`, for engines whose driver does not report
// them (WebKitWebDriver).

window.__logs = [];
for (const type of ['error', 'warn']) {
  const original = console[type];
  console[type] = (...args) => {
    window.__logs.push(`${type}: ${args.map(String).join(' ')}`);
    original.apply(console, args);
  };
}
addEventListener('error', (e) => window.__logs.push(`pageerror: ${e.message}`));
addEventListener('unhandledrejection', (e) => window.__logs.push(`pageerror: ${e.reason}`));
