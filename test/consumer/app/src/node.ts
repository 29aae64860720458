/** Node runner: prints the app's report as one JSON line on stdout. */
import { runApp } from './app.js';

const report = await runApp();
process.stdout.write(`${JSON.stringify(report)}\n`);
