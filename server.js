// `npm start` runs this file (npm's default when package.json has no `start` script). The
// published package.json carries no `start`, `build` or `prepare` script, because the files they
// would run (scripts/, settings.js) are not in the tarball; see scripts/start.js.
'use strict';
require('./scripts/start.js');
