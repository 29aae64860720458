/** Browser runner: the page exposes the app on `window` for the test driver. */
import { runApp, type AppReport } from './app.js';

declare global {
  interface Window {
    runApp: () => Promise<AppReport>;
  }
}

window.runApp = runApp;
document.body.dataset.ready = 'true';
