"""Checkpoints as C2SP signed notes, and witnesses' cosignatures on them.

Existing checkpoints keep their JSON signature (still verified by verify_log) and get no
note; the next checkpoint the log signs carries one, and the newest old one is given a note
of the same head when a bundle needs it (log.checkpoint).

Revision ID: 3c1d2e9f7a40
Revises: 971fd75d040d
Create Date: 2026-12-04 15:20:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '3c1d2e9f7a40'
down_revision = '971fd75d040d'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('log_checkpoints', schema=None) as batch_op:
        batch_op.add_column(sa.Column('note', sa.Text(), nullable=True))
    op.create_table(
        'log_cosignatures',
        sa.Column('tree_size', sa.Integer(), nullable=False),
        sa.Column('witness', sa.String(length=200), nullable=False),
        sa.Column('line', sa.Text(), nullable=False),
        sa.Column('timestamp', sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(['tree_size'], ['log_checkpoints.tree_size'],
                                name=op.f('fk_log_cosignatures_tree_size_log_checkpoints'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('tree_size', 'witness', name=op.f('pk_log_cosignatures')),
    )


def downgrade() -> None:
    op.drop_table('log_cosignatures')
    with op.batch_alter_table('log_checkpoints', schema=None) as batch_op:
        batch_op.drop_column('note')
