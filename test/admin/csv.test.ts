// The CSV reader of classroom lists: RFC 4180 quoting, the line each record starts on,
// what pasted lists carry (BOM, CRLF, comments, blank lines), and errors with their line.
import t from 'tap';
import { CsvError, readCsv } from '../../services/admin/csv.js';

t.test('records with their start line; blank and comment lines skipped', async (t) => {
  t.same(readCsv('a,b,c\n\n# note\n  # indented note\nd,,f\n'), [{ line: 1, fields: ['a', 'b', 'c'] }, { line: 5, fields: ['d', '', 'f'] }]);
  t.same(readCsv('\uFEFFa,b\r\nc,d\r\n'), [{ line: 1, fields: ['a', 'b'] }, { line: 2, fields: ['c', 'd'] }], 'BOM and CRLF');
  t.same(readCsv('a,b'), [{ line: 1, fields: ['a', 'b'] }], 'no final line break');
  t.same(readCsv(''), []);
  t.same(readCsv('a,\n'), [{ line: 1, fields: ['a', ''] }], 'a trailing empty field');
  t.same(readCsv(' a , b \n'), [{ line: 1, fields: [' a ', ' b '] }], 'unquoted fields as written');
});

t.test('quoted fields: delimiters, doubled quotes and line breaks inside; spaces around', async (t) => {
  t.same(readCsv('"a,b","say ""hi""",c\n'), [{ line: 1, fields: ['a,b', 'say "hi"', 'c'] }]);
  t.same(readCsv('x,"two\nlines",y\nnext,"# not a comment"\n'), [{ line: 1, fields: ['x', 'two\nlines', 'y'] }, { line: 3, fields: ['next', '# not a comment'] }]);
  t.same(readCsv(' "a" ,"b"\n'), [{ line: 1, fields: ['a', 'b'] }], 'spaces around a quoted field');
  t.same(readCsv('""\n'), [{ line: 1, fields: [''] }]);
  t.same(readCsv('a\tb\t"c\td"\n', '\t'), [{ line: 1, fields: ['a', 'b', 'c\td'] }], 'another delimiter');
});

t.test('errors carry the line', async (t) => {
  const cases: [string, number, string][] = [
    ['a,b\nc,"open\n\n', 2, 'a quoted field is not closed'],
    ['a\n"x\ny"z,b\n', 3, 'unexpected text after a quoted field: "z,b\\n"'],
  ];
  for (const [text, line, reason] of cases) {
    try {
      readCsv(text);
      t.fail(`accepted ${JSON.stringify(text)}`);
    } catch (e) {
      t.ok(e instanceof CsvError);
      t.same({ line: (e as CsvError).line, reason: (e as CsvError).reason }, { line, reason }, JSON.stringify(text));
      t.equal((e as CsvError).message, `line ${line}: ${reason}`);
    }
  }
});
