//! The one table every list view draws through (after tokio-console's `TableList`): a view
//! says what its columns and rows are; selection, scrolling, clamping and drawing live here
//! once, so the views cannot scroll differently.

use std::cell::Cell;

use ratatui::{
    Frame,
    layout::{Constraint, Rect},
    style::{Modifier, Style},
    widgets::{Block, Row, Table, TableState},
};

/// A list a view shows as a table. Rows are asked for by index and only for the rows on
/// screen: a view of 2000 feed lines or 100k intervals formats one screenful per frame.
pub trait TableList {
    /// Column titles; none means the table has no header row.
    const HEADER: &'static [&'static str];
    const WIDTHS: &'static [Constraint];

    fn title(&self) -> String;
    fn len(&self) -> usize;
    fn row(&self, i: usize) -> Row<'_>;

    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Move {
    Up,
    Down,
    PageUp,
    PageDown,
    First,
    Last,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum At {
    Row(usize),
    /// The last row, whichever it is as rows arrive: the feed follows the newest event this
    /// way, and any list does once the selection reaches its end.
    Last,
}

/// One view's place in its table. Keys move the selection; drawing picks the first row shown
/// and the page size, because which rows fit depends on the area, and only drawing knows it
/// (hence the cells: the draw reads the App, it does not own it).
#[derive(Debug)]
pub struct Cursor {
    at: At,
    offset: Cell<usize>,
    page: Cell<usize>,
}

impl Default for Cursor {
    fn default() -> Cursor {
        Cursor::at(At::Row(0))
    }
}

impl Cursor {
    /// A cursor on the last row, following it.
    pub fn following() -> Cursor {
        Cursor::at(At::Last)
    }

    fn at(at: At) -> Cursor {
        Cursor {
            at,
            offset: Cell::new(0),
            page: Cell::new(0),
        }
    }

    /// The selected row of a list of `len`, clamped to it (a list shrinks under a filter or
    /// when processes go).
    pub fn selected(&self, len: usize) -> Option<usize> {
        let last = len.checked_sub(1)?;
        Some(match self.at {
            At::Row(i) => i.min(last),
            At::Last => last,
        })
    }

    pub fn apply(&mut self, m: Move, len: usize) {
        let Some(sel) = self.selected(len) else {
            return;
        };
        // Before the first draw there is no page; a row at a time is still a move.
        let page = self.page.get().max(1);
        let row = match m {
            Move::Up => sel.saturating_sub(1),
            Move::Down => sel + 1,
            Move::PageUp => sel.saturating_sub(page),
            Move::PageDown => sel + page,
            Move::First => 0,
            Move::Last => len,
        };
        self.at = if row + 1 >= len {
            At::Last
        } else {
            At::Row(row)
        };
    }

    /// The first row to show so that the selection is on screen: the previous frame's, unless
    /// the selection left it, so the view scrolls only when the selection reaches its edge.
    fn scroll(&self, len: usize, page: usize) -> usize {
        self.page.set(page);
        let mut offset = self.offset.get().min(len.saturating_sub(page));
        if let Some(sel) = self.selected(len) {
            if sel < offset {
                offset = sel;
            } else if sel >= offset + page {
                offset = sel + 1 - page.max(1);
            }
        }
        self.offset.set(offset);
        offset
    }
}

pub fn draw<L: TableList>(f: &mut Frame, area: Rect, list: &L, cursor: &Cursor) {
    let len = list.len();
    let header_height = u16::from(!L::HEADER.is_empty());
    let page = area.height.saturating_sub(2 + header_height) as usize;
    let offset = cursor.scroll(len, page);
    let rows = (offset..len.min(offset + page)).map(|i| list.row(i));
    let mut table = Table::new(rows, L::WIDTHS)
        .block(Block::bordered().title(list.title()))
        .row_highlight_style(Style::new().add_modifier(Modifier::REVERSED));
    if header_height > 0 {
        table = table.header(
            Row::new(L::HEADER.iter().copied()).style(Style::new().add_modifier(Modifier::BOLD)),
        );
    }
    let mut state = TableState::default().with_selected(cursor.selected(len).map(|s| s - offset));
    f.render_stateful_widget(table, area, &mut state);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moves_clamp_to_the_list() {
        let mut c = Cursor::default();
        assert_eq!(c.selected(0), None);
        c.apply(Move::Down, 0);
        assert_eq!(c.selected(3), Some(0));
        c.apply(Move::Up, 3);
        assert_eq!(c.selected(3), Some(0));
        c.apply(Move::PageDown, 3);
        assert_eq!(c.selected(3), Some(1), "a page is one row before any draw");
        c.apply(Move::Last, 3);
        assert_eq!(
            c.selected(5),
            Some(4),
            "the last row is followed as rows arrive"
        );
        c.apply(Move::First, 5);
        assert_eq!(c.selected(5), Some(0));
        c.at = At::Row(9);
        assert_eq!(c.selected(4), Some(3), "a shrunk list clamps the selection");
    }

    #[test]
    fn the_view_scrolls_only_at_its_edges() {
        let mut c = Cursor::default();
        assert_eq!(c.scroll(100, 10), 0);
        c.apply(Move::PageDown, 100);
        assert_eq!((c.selected(100), c.scroll(100, 10)), (Some(10), 1));
        c.apply(Move::Up, 100);
        assert_eq!((c.selected(100), c.scroll(100, 10)), (Some(9), 1));
        c.apply(Move::Last, 100);
        assert_eq!(c.scroll(100, 10), 90);
        assert_eq!(c.scroll(20, 10), 10, "a shrunk list shows no empty tail");
    }
}
