// The host map the host and image route tests start from: comments in every place a
// writer could lose them, a host written in another notation, and two images whose files
// the tests create under tftpboot/.
export const SAMPLE = `# Room B12: the host map (this comment must survive every write)
defaults:
  action: menu

images:
  debian:
    kernel: debian/linux        # the installer kernel
    initrd: debian/initrd.gz
    cmdline: auto=true
  rescue:
    script: rescue.ipxe

hosts:
  # the teacher's machine
  52:54:00:00:00:01:
    hostname: teacher
    image: debian
    labels: { room: B12, seat: 1 }
  AA-BB-CC-DD-EE-02: { hostname: pc02, bootOnce: true }   # written by hand, dashes
`;

export const TEACHER = { mac: '52:54:00:00:00:01', hostname: 'teacher', image: 'debian', ip: null, bootOnce: false, labels: { room: 'B12', seat: '1' } };
export const PC02 = { mac: 'aa:bb:cc:dd:ee:02', hostname: 'pc02', image: null, ip: null, bootOnce: true, labels: {} };

export { UNAUTHORIZED } from '../helpers/admin.js';
export const MAC_FORMS = 'aa:bb:cc:dd:ee:ff, AA-BB-CC-DD-EE-FF, aabb.ccdd.eeff or aabbccddeeff';
export const UNKNOWN_NOPE = { error: 'unknown_image', message: 'image: "nope" is not in the host map\'s images (debian, rescue)', field: 'image' };
export const HOSTNAME_RULE = 'must be a host name (letters, digits, hyphens; dots between labels)';
