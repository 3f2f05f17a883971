"""A notification reminds the holders of a task that its deadline is a few working days away.

Revision ID: 7a4c2e9b1d58
Revises: 5d2e8a4c7f19
Create Date: 2026-12-06 18:00:00.000000

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '7a4c2e9b1d58'
down_revision = '5d2e8a4c7f19'
branch_labels = None
depends_on = None

BEFORE = ('task', 'returned', 'decision', 'outcome', 'overdue', 'message', 'term_reminder', 'term_expired',
          'interim_expired', 'visit')
KINDS = BEFORE + ('due_soon',)


def upgrade() -> None:
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_notifications_notification_kind'), type_='check')
        batch_op.create_check_constraint('notification_kind', f"kind IN {KINDS}")


def downgrade() -> None:
    op.execute("DELETE FROM outbox_messages WHERE notification_id IN "
               "(SELECT id FROM notifications WHERE kind = 'due_soon')")
    op.execute("DELETE FROM notifications WHERE kind = 'due_soon'")
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_notifications_notification_kind'), type_='check')
        batch_op.create_check_constraint('notification_kind', f"kind IN {BEFORE}")
