// Expands the one-line form rows of the editor templates (nodes/<type>/<type>.html) into Node-RED's
// standard form-row markup, so the dialogs shipped in dist/ are the literal templates Node-RED's
// own nodes have, while the sources state each row once instead of repeating its wrapper:
//
//   <iotp-row icon="tag"><input type="text" id="node-input-name" /></iotp-row>
//
// in the template of iotp-mqtt-in becomes
//
//   <div class="form-row">
//     <label for="node-input-name"><i class="fa fa-tag"></i> <span data-i18n="iotp-mqtt-in.label.name"></span></label>
//     <input type="text" id="node-input-name" />
//   </div>
//
// The label is for the first node-input-* / node-config-input-* field inside the row; its text is
// the message `<type>.label.<field>` of the node's catalog unless the row names another key
// (`i18n="..."`) or gives literal text (`text="..."`, for names such as URL or QoS). `icon` is a
// Font Awesome 4 name without `fa-` (optional); `class` adds classes to form-row (rows a dialog
// shows or hides). Everything inside the row is copied as written. A row of another shape (no
// label, a label for a later field) stays written out in the template.

const ROW = /^([ \t]*)<iotp-row\b([^>]*)>([\s\S]*?)<\/iotp-row\s*>/gm;
const ATTRIBUTE = /\s*([a-z][\w-]*)="([^"]*)"/gy;
const ALLOWED = new Set(['icon', 'i18n', 'text', 'class']);

function attributesOf(text, where) {
  const attributes = {};
  ATTRIBUTE.lastIndex = 0;
  let match;
  let end = 0;
  while ((match = ATTRIBUTE.exec(text))) {
    if (!ALLOWED.has(match[1])) throw new Error(`${where}: <iotp-row> has no attribute ${match[1]}`);
    attributes[match[1]] = match[2];
    end = ATTRIBUTE.lastIndex;
  }
  if (text.slice(end).trim() !== '') throw new Error(`${where}: cannot read the attributes of <iotp-row${text}>`);
  return attributes;
}

const TEMPLATE = /(<script type="text\/html" data-template-name="([^"]+)">)([\s\S]*?)(<\/script>)/g;

/** An editor file with every <iotp-row> of its templates written out as a form-row div with its label. */
export function expandRows(html, where = 'editor file') {
  const expanded = html.replace(TEMPLATE, (_, open, type, template, close) => `${open}${expandTemplate(template, type, where)}${close}`);
  if (/<\/?iotp-row\b/.test(expanded)) throw new Error(`${where}: an <iotp-row> outside a template, not closed or nested`);
  return expanded;
}

function expandTemplate(template, type, where) {
  return template.replace(ROW, (row, indent, attributeText, content) => {
    const attributes = attributesOf(attributeText, where);
    if (attributes.i18n !== undefined && attributes.text !== undefined) {
      throw new Error(`${where}: <iotp-row${attributeText}> has two labels: i18n or text, not both`);
    }
    const field = /\bid="node-(?:config-)?input-([^"]+)"/.exec(content);
    if (!field) throw new Error(`${where}: <iotp-row${attributeText}> has no node-input-* field to label`);
    const icon = attributes.icon ? `<i class="fa fa-${attributes.icon}"></i> ` : '';
    const caption = attributes.text ?? `<span data-i18n="${attributes.i18n ?? `${type}.label.${field[1]}`}"></span>`;
    const inner = `${indent}  `;
    // Written on one line in the source, the content gets a line of its own; written over several
    // lines, it keeps the indentation the formatter gave it.
    const body = content.includes('\n') ? content.replace(/^\s*\n/, '').replace(/\s+$/, '') : `${inner}${content.trim()}`;
    return [
      `${indent}<div class="${['form-row', attributes.class].filter(Boolean).join(' ')}">`,
      `${inner}<label for="${field[0].slice(4, -1)}">${icon}${caption}</label>`,
      body,
      `${indent}</div>`,
    ].join('\n');
  });
}
