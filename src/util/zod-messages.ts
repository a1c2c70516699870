import { config } from 'zod/mini';
import en from 'zod/v4/locales/en.js';

/*
 * zod's English messages, for the daemon's schemas (the config, image manifests), which use
 * zod's functional build, "zod/mini", imported for this side effect. Why mini: the daemon
 * loads zod at start, and zod's classic build brings its whole method-chaining API (some
 * 440 KiB of the daemon's bundle, all of it parsed and kept) where mini's functions are
 * bundled as far as the schemas call them. mini leaves the messages out until a locale is
 * configured: without this they all read "Invalid input".
 */
config(en());
