//! What the desktop tests ask of the X server directly, through x11rb (the X protocol in safe
//! Rust): closing a window as a window manager's close button does, and reading the screen's
//! pixels fast enough to time a paint.
//!
//! Asked here because the tools cannot: under Xvfb there is no window manager, so `wmctrl -c`
//! (which asks one) does nothing, and Debian's xdotool 3.2016 has no `windowquit` (its
//! `windowkill` and `windowclose` destroy the window under the app instead of asking it). A
//! screenshot through ImageMagick takes ~100 ms, too coarse to time a paint against 500 ms.

use x11rb::connection::Connection;
use x11rb::protocol::xproto::{ClientMessageEvent, ConnectionExt, EventMask, ImageFormat, Window};
use x11rb::rust_connection::RustConnection;

/// A connection to the test's display (`DISPLAY`).
pub struct X {
    connection: RustConnection,
    root: Window,
}

impl X {
    pub fn open() -> X {
        let (connection, screen) = x11rb::connect(None).expect("a connection to DISPLAY");
        let root = connection.setup().roots[screen].root;
        X { connection, root }
    }

    /// Asks the window `window` (an X id, as xdotool prints it) to close, as a window manager
    /// does when its close button is clicked: a `WM_PROTOCOLS` client message carrying
    /// `WM_DELETE_WINDOW` (ICCCM 4.2.8.1), which GTK turns into the app's close request.
    pub fn ask_to_close(&self, window: Window) {
        let atom = |name: &str| {
            self.connection
                .intern_atom(false, name.as_bytes())
                .expect("InternAtom sent")
                .reply()
                .expect("InternAtom answered")
                .atom
        };
        let message = ClientMessageEvent::new(
            32,
            window,
            atom("WM_PROTOCOLS"),
            [atom("WM_DELETE_WINDOW"), x11rb::CURRENT_TIME, 0, 0, 0],
        );
        self.connection
            .send_event(false, window, EventMask::NO_EVENT, message)
            .expect("SendEvent sent");
        self.connection.flush().expect("the request flushed");
    }

    /// The pixels of the screen's rectangle `(x, y, width, height)`, as the server sends them
    /// (empty when it cannot), to tell whether something was drawn there since.
    pub fn pixels(&self, (x, y, width, height): (i16, i16, u16, u16)) -> Vec<u8> {
        self.connection
            .get_image(ImageFormat::Z_PIXMAP, self.root, x, y, width, height, !0)
            .map_err(|error| error.to_string())
            .and_then(|cookie| cookie.reply().map_err(|error| error.to_string()))
            .map(|image| image.data)
            .unwrap_or_default()
    }

    /// Whether any pixel of the screen's rectangle `(x, y, width, height)` is `rgb`
    /// (`0xRRGGBB`). Xvfb's 24-bit screen sends 32 bits a pixel, least significant byte first
    /// (blue, green, red, unused).
    pub fn shows(&self, (x, y, width, height): (i16, i16, u16, u16), rgb: u32) -> bool {
        let Ok(image) = self
            .connection
            .get_image(ImageFormat::Z_PIXMAP, self.root, x, y, width, height, !0)
            .map_err(|error| error.to_string())
            .and_then(|cookie| cookie.reply().map_err(|error| error.to_string()))
        else {
            return false;
        };
        let [blue, green, red, _] = rgb.to_le_bytes();
        image
            .data
            .chunks_exact(4)
            .any(|pixel| pixel[..3] == [blue, green, red])
    }
}
