// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Base} from "./utils/Base.sol";
import {Oracle, IPoolManagerReport} from "../src/Oracle.sol";
import {PoolManager} from "../src/PoolManager.sol";
import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";

contract OracleTest is Base {
    function _stakeTwo() internal {
        _fund(64 ether);
        Batch memory b = _approvedBatch(2, 1, ops4);
        _stake(b, b.vals);
    }

    function test_config() public view {
        assertEq(oracle.quorum(), 2);
        assertEq(oracle.getMembers().length, 3);
        assertTrue(oracle.isMember(members[2]));
        assertEq(oracle.maxAprBps(), 1_000);
        assertEq(oracle.maxDropBps(), 500);
        assertEq(oracle.currentFrame(), 0);
        assertEq(address(oracle.manager()), address(manager));
    }

    function test_constructor_reverts() public {
        vm.expectRevert(Oracle.ZeroAddress.selector);
        new Oracle(IPoolManagerReport(address(0)), gov, 0, 1, 1, 1);
        vm.expectRevert(Oracle.InvalidFrameConfig.selector);
        new Oracle(IPoolManagerReport(address(manager)), gov, 0, 0, 1, 1);
        vm.expectRevert(Oracle.InvalidFrameConfig.selector);
        new Oracle(IPoolManagerReport(address(manager)), gov, block.timestamp + 1, 1, 1, 1);
        vm.expectRevert(abi.encodeWithSelector(Oracle.InvalidBounds.selector, 0, 1));
        new Oracle(IPoolManagerReport(address(manager)), gov, 0, 1, 0, 1);
    }

    function test_quorumReport_rebasesAndMintsFee() public {
        _stakeTwo();
        vm.prank(alice);
        manager.deposit{value: 10 ether}();
        uint256 aliceBefore = poolETH.balanceOf(alice);
        _nextFrame();
        uint256 frame = oracle.currentFrame();
        // 1 day at ≤10%/yr on 74 ETH allows ~0.0203 ETH; report +0.01 ETH
        vm.prank(members[0]);
        oracle.submitReport(frame, 64.01 ether, 2, 0);
        assertEq(oracle.votesFor(frame, 64.01 ether, 2, 0), 1);
        assertEq(manager.beaconBalance(), 0); // no quorum yet
        vm.expectEmit(address(manager));
        emit PoolManager.OracleReported(64.01 ether, 2, 0, 0);
        vm.prank(members[1]);
        oracle.submitReport(frame, 64.01 ether, 2, 0);
        assertEq(manager.beaconBalance(), 64.01 ether);
        assertEq(manager.totalPooledEther(), 74.011 ether);
        // fee: 10% of 0.01 ETH to the treasury, in shares
        assertApproxEqAbs(poolETH.balanceOf(treasury), 0.001 ether, 10);
        assertGt(poolETH.balanceOf(alice), aliceBefore);
        assertEq(oracle.lastCompletedFrame(), frame);
        // third member's late report for a completed frame
        vm.prank(members[2]);
        vm.expectRevert(abi.encodeWithSelector(Oracle.FrameAlreadyCompleted.selector, frame));
        oracle.submitReport(frame, 64.01 ether, 2, 0);
    }

    function test_submit_reverts() public {
        _stakeTwo();
        _nextFrame();
        uint256 frame = oracle.currentFrame();
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(Oracle.NotMember.selector, alice));
        oracle.submitReport(frame, 64 ether, 2, 0);
        vm.prank(members[0]);
        vm.expectRevert(abi.encodeWithSelector(Oracle.WrongFrame.selector, frame + 1, frame));
        oracle.submitReport(frame + 1, 64 ether, 2, 0);
        vm.prank(members[0]);
        vm.expectRevert(abi.encodeWithSelector(Oracle.WrongFrame.selector, frame - 1, frame));
        oracle.submitReport(frame - 1, 64 ether, 2, 0);
        vm.prank(members[0]);
        oracle.submitReport(frame, 64 ether, 2, 0);
        vm.prank(members[0]);
        vm.expectRevert(abi.encodeWithSelector(Oracle.AlreadyReported.selector, frame, members[0]));
        oracle.submitReport(frame, 64 ether, 2, 0);
    }

    function test_noQuorum_whenReportsDiffer() public {
        _stakeTwo();
        _nextFrame();
        uint256 frame = oracle.currentFrame();
        vm.prank(members[0]);
        oracle.submitReport(frame, 64 ether, 2, 0);
        vm.prank(members[1]);
        oracle.submitReport(frame, 64.001 ether, 2, 0);
        assertEq(manager.beaconValidators(), 0);
        assertFalse(oracle.anyFrameCompleted());
        // the next frame is a fresh vote
        _nextFrame();
        _report(64 ether, 2, 0);
        assertEq(manager.beaconValidators(), 2);
    }

    function test_bounds_increaseTooHigh() public {
        _stakeTwo();
        _nextFrame();
        uint256 frame = oracle.currentFrame();
        (uint256 pre,,,) = manager.previewReport(0, 0);
        uint256 maxTotal = pre + pre * 1_000 * FRAME / (365 days * 10_000);
        vm.prank(members[0]);
        oracle.submitReport(frame, 65 ether, 2, 0);
        vm.prank(members[1]);
        vm.expectRevert(abi.encodeWithSelector(Oracle.RateIncreaseTooHigh.selector, pre, 65.001 ether, maxTotal));
        oracle.submitReport(frame, 65 ether, 2, 0);
    }

    function test_bounds_dropTooHigh() public {
        _stakeTwo();
        _nextFrame();
        uint256 frame = oracle.currentFrame();
        uint256 pre = manager.totalPooledEther();
        vm.prank(members[0]);
        oracle.submitReport(frame, 60 ether, 2, 0);
        vm.prank(members[1]);
        vm.expectRevert(
            abi.encodeWithSelector(Oracle.RateDropTooHigh.selector, pre, 60.001 ether, pre - pre * 500 / 10_000)
        );
        oracle.submitReport(frame, 60 ether, 2, 0);
        // a drop within bounds is applied (no fee on losses)
        _nextFrame();
        _report(63 ether, 2, 0);
        assertEq(manager.totalPooledEther(), 63.001 ether);
        assertEq(poolETH.sharesOf(treasury), 0);
    }

    function test_donation_collectedWithinHeadroomOnly() public {
        _stakeTwo();
        vm.deal(address(manager), address(manager).balance + 10 ether); // donation / EL rewards
        _nextFrame();
        uint256 pre = manager.totalPooledEther();
        uint256 maxTotal = pre + pre * 1_000 * FRAME / (365 days * 10_000);
        _report(64 ether, 2, 0); // does not revert
        assertEq(manager.totalPooledEther(), maxTotal);
        assertEq(manager.unaccountedEther(), 10 ether - (maxTotal - pre));
    }

    function test_exitedValidatorEth_isCollected() public {
        _stakeTwo();
        _nextFrame();
        _report(64 ether, 2, 0);
        vm.deal(address(manager), address(manager).balance + 32 ether); // one validator exited
        _nextFrame();
        _report(32 ether, 2, 1);
        assertEq(manager.exitedValidators(), 1);
        assertEq(manager.unaccountedEther(), 0);
        assertEq(manager.bufferedEther(), 32.001 ether - 0.00094 ether); // the cluster's ETH is not in the buffer
    }

    function test_members_admin() public {
        address m = address(0x0404);
        vm.startPrank(gov);
        oracle.addMember(m, 3);
        assertEq(oracle.quorum(), 3);
        vm.expectRevert(abi.encodeWithSelector(Oracle.AlreadyMember.selector, m));
        oracle.addMember(m, 3);
        vm.expectRevert(Oracle.ZeroAddress.selector);
        oracle.addMember(address(0), 3);
        vm.expectRevert(abi.encodeWithSelector(Oracle.InvalidQuorum.selector, 2, 4));
        oracle.setQuorum(2); // not a strict majority of 4
        vm.expectRevert(abi.encodeWithSelector(Oracle.InvalidQuorum.selector, 5, 4));
        oracle.setQuorum(5);
        vm.expectRevert(abi.encodeWithSelector(Oracle.InvalidQuorum.selector, 0, 4));
        oracle.setQuorum(0);
        oracle.setQuorum(4);
        oracle.removeMember(m, 2);
        assertFalse(oracle.isMember(m));
        assertEq(oracle.getMembers().length, 3);
        vm.expectRevert(abi.encodeWithSelector(Oracle.NotMember.selector, m));
        oracle.removeMember(m, 2);
        oracle.setBounds(2_000, 100);
        assertEq(oracle.maxAprBps(), 2_000);
        vm.expectRevert(abi.encodeWithSelector(Oracle.InvalidBounds.selector, 10_001, 100));
        oracle.setBounds(10_001, 100);
        vm.expectRevert(abi.encodeWithSelector(Oracle.InvalidBounds.selector, 100, 5_001));
        oracle.setBounds(100, 5_001);
        vm.stopPrank();
        bytes32 role = oracle.MANAGE_MEMBERS_ROLE();
        vm.startPrank(alice);
        vm.expectRevert(abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, alice, role));
        oracle.addMember(alice, 2);
        vm.expectRevert(abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, alice, role));
        oracle.removeMember(members[0], 2);
        vm.expectRevert(abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, alice, role));
        oracle.setQuorum(2);
        vm.expectRevert(abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, alice, bytes32(0)));
        oracle.setBounds(1, 1);
        vm.stopPrank();
    }

    function test_memberChange_resetsFrameVotes() public {
        _stakeTwo();
        _nextFrame();
        uint256 frame = oracle.currentFrame();
        vm.prank(members[0]);
        oracle.submitReport(frame, 64 ether, 2, 0);
        vm.prank(gov);
        oracle.setQuorum(3);
        assertEq(oracle.votesFor(frame, 64 ether, 2, 0), 0);
        vm.prank(members[0]); // may vote again under the new configuration
        oracle.submitReport(frame, 64 ether, 2, 0);
        assertEq(oracle.votesFor(frame, 64 ether, 2, 0), 1);
    }

    /// Fuzz: any report the oracle accepts keeps the total within the bounds.
    function testFuzz_reportWithinBounds(uint256 beaconBalance, uint256 donation, uint256 dt) public {
        _stakeTwo();
        dt = bound(dt, FRAME, 30 days);
        beaconBalance = bound(beaconBalance, 50 ether, 80 ether);
        donation = bound(donation, 0, 5 ether);
        vm.deal(address(manager), address(manager).balance + donation);
        vm.warp(block.timestamp + dt);
        uint256 pre = manager.totalPooledEther();
        uint256 frame = oracle.currentFrame();
        vm.prank(members[0]);
        oracle.submitReport(frame, beaconBalance, 2, 0);
        vm.prank(members[1]);
        try oracle.submitReport(frame, beaconBalance, 2, 0) {
            uint256 post = manager.totalPooledEther();
            assertLe(post, pre + pre * 1_000 * dt / (365 days * 10_000));
            assertGe(post, pre - pre * 500 / 10_000);
        } catch {
            assertEq(manager.beaconValidators(), 0);
        }
    }
}
