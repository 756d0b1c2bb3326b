// `node --import` this to append the URL of every module the process loads to $CASCADE_MODULE_TRACE.
import { registerHooks } from 'node:module';
import { appendFileSync } from 'node:fs';

const out = process.env.CASCADE_MODULE_TRACE;
if (out) registerHooks({ load(url, context, next) { appendFileSync(out, `${url}\n`); return next(url, context); } });
