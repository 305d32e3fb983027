/**
 * Editor helpers shared by this package's node dialogs. Node-RED serves the package's resources/
 * folder at resources/node-red-contrib-iot-pipelines/ and loads a node file's <script src> before
 * the file's own scripts, so `IOTP` exists when a node's registerType runs. Loaded once per node
 * file: defined only the first time.
 *
 * Range validators (the property's limits are the runtime's, from lib/<area>/settings.ts;
 * test/package/editor-limits.test.ts compares them):
 *   IOTP.integer(min, max, options)  whole numbers from min to max (max null: no upper limit)
 *   IOTP.number(min, max, options)   any finite number from min to max
 * options: { blank: true } also accepts an empty value (the runtime's default applies),
 *          { env: true } also accepts a whole `${VAR}` (resolved at deploy),
 *          { above: true } makes min exclusive (a rate above 0).
 *
 * Other validators:
 *   IOTP.duration(options)      a duration: 500ms, 5s, 5 sec, 1.5m, 30min, 2h, 1d or a bare number,
 *                               above zero unless { zero: true }; { blank: true } also accepts an
 *                               empty value, { env: true } a `${VAR}` (a name not starting with a digit)
 *   IOTP.oneOf(values)          exactly one of these values (a select's options, as stored)
 *   IOTP.msgProperty()          a message property path: payload.value, payload.items[0].id
 *   IOTP.json(accept, options)  JSON text whose value accept(value) allows (any JSON without
 *                               accept); { blank: true } also accepts an empty or all-space text
 *   IOTP.onlyWhen(when, validate)  checks a property only while the dialog uses it: `when` is
 *                               { setting: value, ... } (all must match) or a function of the node
 *                               (`this`); otherwise the property is valid whatever it holds
 *   IOTP.listItems(text, separator)  the trimmed, non-empty items of a list setting
 *
 * Dialog: IOTP.watch(selector, update) runs update now and each time one of those inputs changes
 * (rows shown or hidden by a select or a checkbox).
 *
 * Workspace: `labelStyle: IOTP.labelStyle` shows a node's label in italics when it has a name
 * (Node-RED's convention: a named node reads differently from its default label).
 *
 * Code editor of a hidden input `#id` in a `#id-editor` div:
 *   oneditprepare: function () { IOTP.openCodeEditor(this, 'node-input-sql', 'sql'); ... },
 *   oneditsave: IOTP.saveCodeEditor,
 *   oneditcancel: IOTP.closeCodeEditor
 */
(function () {
  if (window.IOTP) return;
  var ENV = /^\$\{\w+\}$/;
  // The durations' and property paths' own forms, as the nodes have always checked them.
  var VARIABLE = /^\$\{[A-Za-z_][A-Za-z0-9_]*\}$/;
  var DURATION = /^\s*\d+(\.\d+)?\s*(ms|s|sec|m|min|h|d)?\s*$/i;
  var PROPERTY_PATH = /^[A-Za-z_$][\w$]*(\.[A-Za-z_$][\w$]*|\[\d+\])*$/;

  function range(integer, min, max, options) {
    var opts = options || {};
    return function (v) {
      var text = v === undefined || v === null ? '' : String(v).trim();
      if (text === '') return opts.blank === true;
      if (opts.env && ENV.test(text)) return true;
      if (integer ? !/^\d+$/.test(text) : !isFinite(Number(text))) return false;
      var n = Number(text);
      if (opts.above ? n <= min : n < min) return false;
      return max === null || max === undefined || n <= max;
    };
  }

  function duration(options) {
    var opts = options || {};
    return function (v) {
      if (!v) return opts.blank === true;
      if (opts.env && VARIABLE.test(v)) return true;
      return DURATION.test(v) && (opts.zero === true || parseFloat(v) > 0);
    };
  }

  function matches(node, settings) {
    return Object.keys(settings).every(function (name) {
      return node[name] === settings[name];
    });
  }

  function closeCodeEditor() {
    if (!this.editor) return;
    this.editor.destroy();
    delete this.editor;
    delete this.editorInput;
  }

  window.IOTP = {
    integer: function (min, max, options) {
      return range(true, min, max, options);
    },
    number: function (min, max, options) {
      return range(false, min, max, options);
    },
    duration: duration,
    oneOf: function (values) {
      return function (v) {
        return values.indexOf(v) >= 0;
      };
    },
    msgProperty: function () {
      return function (v) {
        return PROPERTY_PATH.test(v);
      };
    },
    json: function (accept, options) {
      var opts = options || {};
      return function (v) {
        if (opts.blank && !String(v || '').trim()) return true;
        try {
          var value = JSON.parse(v);
          // Inside the try: an accept that trips over an unexpected shape rejects it.
          return accept ? accept(value) : true;
        } catch {
          return false;
        }
      };
    },
    onlyWhen: function (when, validate) {
      return function (v, opt) {
        var used = typeof when === 'function' ? when.call(this) : matches(this, when);
        return used ? validate.call(this, v, opt) : true;
      };
    },
    listItems: function (text, separator) {
      return String(text || '')
        .split(separator)
        .map(function (s) {
          return s.trim();
        })
        .filter(Boolean);
    },
    labelStyle: function () {
      return this.name ? 'node_label_italic' : '';
    },
    watch: function (selector, update) {
      $(selector).on('change', update);
      update();
    },
    openCodeEditor: function (node, input, mode) {
      node.editorInput = input;
      node.editor = RED.editor.createEditor({
        id: input + '-editor',
        mode: 'ace/mode/' + mode,
        value: $('#' + input).val() || '',
      });
      return node.editor;
    },
    saveCodeEditor: function () {
      if (this.editor) $('#' + this.editorInput).val(this.editor.getValue());
      closeCodeEditor.call(this);
    },
    closeCodeEditor: closeCodeEditor,
  };
})();
