// Type definitions for the ES module entry (index.mjs): the same API.
import wsrt from './index.js';

export * from './index.js';
export default wsrt;
