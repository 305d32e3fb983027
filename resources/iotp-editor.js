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
 * Code editor of a hidden input `#id` in a `#id-editor` div:
 *   oneditprepare: function () { IOTP.openCodeEditor(this, 'node-input-sql', 'sql'); ... },
 *   oneditsave: IOTP.saveCodeEditor,
 *   oneditcancel: IOTP.closeCodeEditor
 */
(function () {
  if (window.IOTP) return;
  var ENV = /^\$\{\w+\}$/;

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
